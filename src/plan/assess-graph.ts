import type { GraphTask } from "../graph/graph.js";
import type { StateStore, TaskRunRecord } from "../state/state-store.js";
import { loadItems, planItems, summarizeItems } from "./plan-items.js";
import {
  decideTask,
  fingerprintTask,
  type PlanContext,
  type PreviousRuns,
  type TaskDecision,
  type UpstreamState,
} from "./plan-task.js";

/** The state of one task as `dagwright status` reports it. */
export interface TaskAssessment {
  task: string;
  state: "fresh" | "stale" | "failed" | "never-ran" | "running";
  reasons: string[];
  decision: TaskDecision;
  lastAttempt?: TaskRunRecord;
  lastSuccess?: TaskRunRecord;
  /** Mapped tasks: `19/20 items done, 1 failed (T1,1: ValueError: boom)`. */
  items?: string;
}

/**
 * What a run would do, without running: each task of `tasks` (topological order) is decided
 * against its last success; a task downstream of one that would run is stale too ("upstream x
 * will rerun"), since its input may change.
 */
export async function assessGraph(
  ctx: PlanContext,
  store: StateStore,
  namespace: string,
  tasks: readonly string[],
): Promise<TaskAssessment[]> {
  const graph = ctx.graph;
  const needed = new Set(tasks);
  for (const t of tasks) for (const d of graph.tasks[t]!.deps) needed.add(d);
  const states = await store.taskStates(namespace, [...needed]);
  const upstream = new Map<string, UpstreamState | undefined>();
  for (const t of needed) {
    const s = states.get(t)?.lastSuccess;
    upstream.set(
      t,
      s ? { outputs: s.outputs, ...(s.resultHash ? { resultHash: s.resultHash } : {}) } : undefined,
    );
  }
  const willRun = new Set<string>();
  const out: TaskAssessment[] = [];
  for (const name of tasks) {
    const task = graph.tasks[name]!;
    const prev = states.get(name) ?? {};
    if (task.spec.mapOver !== undefined) {
      const row = await assessMapped(ctx, store, namespace, task, upstream, prev);
      if (row.state !== "fresh") willRun.add(name);
      out.push(row);
      continue;
    }
    const decision = await decideTask(ctx, task, upstream, prev);
    const reasons = [...decision.reasons];
    for (const d of task.deps)
      if (willRun.has(d) && !reasons.some((r) => r.includes(d)))
        reasons.push(`upstream ${d} will rerun`);
    let state: TaskAssessment["state"];
    if (prev.lastAttempt?.status === "running") state = "running";
    else if (!prev.lastAttempt) state = "never-ran";
    else if (prev.lastAttempt.status === "failed" || prev.lastAttempt.status === "cancelled")
      state = "failed";
    else state = reasons.length > 0 ? "stale" : "fresh";
    if (state !== "fresh") willRun.add(name);
    out.push({
      task: name,
      state,
      reasons,
      decision,
      ...(prev.lastAttempt ? { lastAttempt: prev.lastAttempt } : {}),
      ...(prev.lastSuccess ? { lastSuccess: prev.lastSuccess } : {}),
    });
  }
  return out;
}

/** A mapped task: fresh only when every current item is; otherwise the item summary says why. */
async function assessMapped(
  ctx: PlanContext,
  store: StateStore,
  namespace: string,
  task: GraphTask,
  upstream: Map<string, UpstreamState | undefined>,
  prev: PreviousRuns,
): Promise<TaskAssessment> {
  const loaded = await loadItems(store, namespace, ctx.graph, task);
  const forItems = new Map(upstream);
  const p = upstream.get(loaded.producer);
  forItems.set(loaded.producer, p ? { outputs: p.outputs } : undefined);
  const parts = await fingerprintTask(ctx, task, forItems);
  const base = { task: task.name, parts, fingerprint: "" };
  const extra = {
    ...(prev.lastAttempt ? { lastAttempt: prev.lastAttempt } : {}),
    ...(prev.lastSuccess ? { lastSuccess: prev.lastSuccess } : {}),
  };
  if ("error" in loaded) {
    const state = !prev.lastAttempt ? "never-ran" : "stale";
    return {
      task: task.name,
      state,
      reasons: [loaded.error],
      decision: { ...base, action: "run", reasons: [loaded.error] },
      ...extra,
    };
  }
  const plan = await planItems(ctx, store, namespace, task, parts, loaded.items, false, prev);
  const summary = summarizeItems(plan);
  const allFresh = [...plan.decisions.values()].every((d) => d.action === "fresh");
  const fresh = allFresh && prev.lastSuccess?.fingerprint === plan.fingerprint;
  const anyFailed = plan.items.some((i) =>
    ["failed", "cancelled"].includes(plan.previous.get(i.key)?.lastAttempt?.status ?? ""),
  );
  const state: TaskAssessment["state"] = fresh
    ? "fresh"
    : !prev.lastAttempt
      ? "never-ran"
      : anyFailed
        ? "failed"
        : "stale";
  const reasons = fresh ? [] : [summary];
  return {
    task: task.name,
    state,
    reasons,
    items: summary,
    decision: { ...base, fingerprint: plan.fingerprint, action: fresh ? "fresh" : "run", reasons },
    ...extra,
  };
}
