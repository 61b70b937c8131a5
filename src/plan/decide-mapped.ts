import type { FingerprintParts } from "../fingerprint/fingerprint.js";
import type { Graph, GraphTask } from "../graph/graph.js";
import type { StateStore, TaskRunRecord } from "../state/state-store.js";
import type { ItemList } from "./expand-items.js";
import { type ItemPlan, loadItems, planItems } from "./plan-items.js";
import {
  fingerprintTask,
  type PlanContext,
  type PreviousRuns,
  type UpstreamState,
} from "./plan-task.js";

/** The keys of a mapped task's items, sorted: the set its downstream tasks' fingerprints hold. */
export function itemKeysOf(items: ItemList): string[] {
  return Array.from({ length: items.length }, (_, i) => items.at(i)!.key).sort();
}

/** Whether some task of `graph` depends on `name` (and so fingerprints what it contributes). */
export function hasDependents(graph: Graph, name: string): boolean {
  return Object.values(graph.tasks).some((t) => t.deps.includes(name));
}

/**
 * What `name` contributes to its downstream fingerprints, from its last success: outputs and
 * result, and for a mapped task the keys of the items its producer's current list expands to
 * (none when that list is not available). Undefined when it never succeeded.
 */
async function upstreamStateOf(
  store: StateStore,
  namespace: string,
  graph: Graph,
  name: string,
  last: TaskRunRecord | undefined,
): Promise<UpstreamState | undefined> {
  if (last === undefined) return undefined;
  const state: UpstreamState = {
    outputs: last.outputs,
    ...(last.resultHash ? { resultHash: last.resultHash } : {}),
  };
  const task = graph.tasks[name];
  if (task?.spec.mapOver !== undefined) {
    const loaded = await loadItems(store, namespace, graph, task);
    state.items = "error" in loaded ? [] : itemKeysOf(loaded.items);
  }
  return state;
}

/** {@link upstreamStateOf} for several tasks, from their states as `taskStates` returned them. */
export async function upstreamStatesOf(
  store: StateStore,
  namespace: string,
  graph: Graph,
  names: Iterable<string>,
  states: ReadonlyMap<string, PreviousRuns>,
): Promise<Map<string, UpstreamState | undefined>> {
  const out = new Map<string, UpstreamState | undefined>();
  for (const name of names) {
    const last = states.get(name)?.lastSuccess;
    const mapped = graph.tasks[name]?.spec.mapOver !== undefined;
    // Only a mapped task needs a store read; the others are answered without awaiting one.
    out.set(
      name,
      mapped
        ? await upstreamStateOf(store, namespace, graph, name, last)
        : last && {
            outputs: last.outputs,
            ...(last.resultHash ? { resultHash: last.resultHash } : {}),
          },
    );
  }
  return out;
}

/** A mapped task's decision: its items, each item's decision, and whether the task is fresh. */
export interface MappedDecision {
  producer: string;
  /** Every item of the producer's current list. */
  items: ItemList;
  /** The task's parts without any item's args (what items share). */
  base: FingerprintParts;
  /** The decisions of the planned items (all, or those `pick` chose). */
  plan: ItemPlan;
  /** Every planned item is fresh. */
  allFresh: boolean;
  /** The task as a whole is fresh: not forced, all items fresh, the last success recorded this
   * very item set, and the last attempt succeeded. */
  fresh: boolean;
}

/**
 * The one rule for a mapped task, shared by `run` and `status`: its items come from the
 * producer's cached list; the producer's result hash is left out of the items' fingerprint (the
 * items themselves stand for the list, so adding one does not make the others stale); each item is
 * decided against its own last run. Returns `error` when the list is not available.
 */
export async function decideMapped(
  ctx: PlanContext,
  store: StateStore,
  namespace: string,
  task: GraphTask,
  upstream: ReadonlyMap<string, UpstreamState | undefined>,
  previous: PreviousRuns,
  options: { force?: boolean; pick?: (items: ItemList) => ItemList } = {},
): Promise<
  MappedDecision | { producer: string; error: string; notYet?: true; base: FingerprintParts }
> {
  const loaded = await loadItems(store, namespace, ctx.graph, task);
  const forItems = new Map(upstream);
  const p = upstream.get(loaded.producer);
  forItems.set(loaded.producer, p ? { outputs: p.outputs } : undefined);
  const base = await fingerprintTask(ctx, task, forItems);
  if ("error" in loaded) return { ...loaded, base };
  const picked = options.pick ? options.pick(loaded.items) : loaded.items;
  const force = options.force ?? false;
  const plan = await planItems(ctx, store, namespace, task, base, picked, force, previous);
  const allFresh = plan.toRun.length === 0;
  const fresh =
    !force &&
    allFresh &&
    previous.lastSuccess?.fingerprint === plan.fingerprint &&
    previous.lastAttempt?.status === "succeeded";
  return { producer: loaded.producer, items: loaded.items, base, plan, allFresh, fresh };
}
