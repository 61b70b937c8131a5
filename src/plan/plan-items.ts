import { canonicalJson } from "../fingerprint/canonical-json.js";
import { type FingerprintParts, fingerprintOf } from "../fingerprint/fingerprint.js";
import { hashString } from "../fingerprint/hash-string.js";
import type { Graph, GraphTask } from "../graph/graph.js";
import type { StateStore, TaskRunRecord } from "../state/state-store.js";
import { expandItems, type TaskItem } from "./expand-items.js";
import {
  decideParts,
  type PlanContext,
  type PreviousRuns,
  type TaskDecision,
} from "./plan-task.js";

/** Per-item decisions of a mapped task, and the task-level fingerprint over all items. */
export interface ItemPlan {
  items: TaskItem[];
  decisions: Map<string, TaskDecision>;
  /** Each item's last attempt and last success. */
  previous: Map<string, PreviousRuns>;
  /** Hash over (key, item fingerprint) of every current item. */
  fingerprint: string;
}

/** What an item attempt stores as its parts: the base parts' key and its own args part. */
interface ItemPartsRef {
  $base: string;
  args: string;
}

function isItemPartsRef(v: unknown): v is ItemPartsRef {
  return typeof v === "object" && v !== null && typeof (v as ItemPartsRef).$base === "string";
}

/** The base parts recorded by the task-level attempts we know, by their key. */
function knownBases(taskPrevious: PreviousRuns): Map<string, FingerprintParts> {
  const bases = new Map<string, FingerprintParts>();
  for (const r of [taskPrevious.lastAttempt, taskPrevious.lastSuccess]) {
    const parts = r?.parts as FingerprintParts | undefined;
    if (parts && typeof parts === "object" && "code" in parts)
      bases.set(fingerprintOf({ ...parts, args: "" }), parts);
  }
  return bases;
}

/**
 * An item's last success with its full parts, so a changed fingerprint is explained part by part.
 * When the base it refers to is no longer known (it ran several task versions ago), the parts
 * stay empty and the decision says only that the fingerprint changed.
 */
function withBaseParts(record: TaskRunRecord, bases: Map<string, FingerprintParts>): TaskRunRecord {
  const parts = record.parts;
  if (!isItemPartsRef(parts)) return record;
  const base = bases.get(parts.$base);
  return { ...record, parts: base ? { ...base, args: parts.args } : undefined };
}

/** An item's fingerprint: the task's fingerprint without args, combined with the item's args part. */
export function itemFingerprint(baseKey: string, argsHash: string): string {
  return hashString(`${baseKey}\u0000${argsHash}`);
}

/**
 * The fingerprint parts of one item: the task's parts plus the item's own values, whose part is
 * `hashValue({ args: task.args, item: item.values })`. `argsJson` is `canonicalJson(task.args)`,
 * which a caller planning many items computes once: the canonical JSON of that object is then
 * assembled around it (keys "args" < "item", as canonicalJson orders them) instead of
 * canonicalizing the task's args again for every item.
 */
export function itemParts(
  base: FingerprintParts,
  task: GraphTask,
  item: TaskItem,
  argsJson: string = canonicalJson(task.args),
): FingerprintParts {
  return {
    ...base,
    args: hashString(`{"args":${argsJson},"item":${canonicalJson(item.values)}}`),
  };
}

/**
 * `hashValue` of `[[key, item fingerprint], …]` in item order, with that canonical JSON written
 * directly: keys are the only strings that need escaping (fingerprints are hex digests).
 */
export function planFingerprint(
  items: readonly TaskItem[],
  decisions: Map<string, TaskDecision>,
): string {
  const rows = items.map(
    (i) => `[${JSON.stringify(i.key)},"${decisions.get(i.key)!.fingerprint}"]`,
  );
  return hashString(`[${rows.join(",")}]`);
}

/**
 * Decides each item against its own last attempt and success: only items that failed, are new,
 * or whose fingerprint changed (code, args, upstream outputs) run. Items that left the list are
 * simply not considered any more.
 */
export async function planItems(
  plan: PlanContext,
  store: StateStore,
  namespace: string,
  task: GraphTask,
  base: FingerprintParts,
  items: TaskItem[],
  force: boolean,
  taskPrevious: PreviousRuns = {},
): Promise<ItemPlan> {
  const decisions = new Map<string, TaskDecision>();
  const previousByKey = new Map<string, PreviousRuns>();
  const states = await store.itemStates(namespace, task.name);
  // Items differ only in their args part. The rest is hashed once per task, and an item stores
  // only a reference to it ({$base, args}): the task-level attempt of the same run holds the base
  // parts. 100,000 items then neither canonicalize nor store the same maps 100,000 times.
  const baseKey = fingerprintOf({ ...base, args: "" });
  const argsJson = canonicalJson(task.args);
  const bases = knownBases(taskPrevious);
  bases.set(baseKey, base);
  for (const item of items) {
    const stored = states.get(item.key) ?? {};
    const previous: PreviousRuns = { ...stored };
    if (stored.lastSuccess) previous.lastSuccess = withBaseParts(stored.lastSuccess, bases);
    previousByKey.set(item.key, previous);
    const parts = itemParts(base, task, item, argsJson);
    const decision = await decideParts(plan, task, parts, previous, {
      force,
      fingerprint: itemFingerprint(baseKey, parts.args),
    });
    // Both are hex digests: nothing to escape.
    decision.partsJson = `{"$base":"${baseKey}","args":"${parts.args}"}`;
    decisions.set(item.key, decision);
  }
  const fingerprint = planFingerprint(items, decisions);
  return { items, decisions, previous: previousByKey, fingerprint };
}

/**
 * The producer of a mapped task's items and the items themselves, or why they are not available
 * (the producer never succeeded: `notYet`, or its result is not a usable list).
 */
export async function loadItems(
  store: StateStore,
  namespace: string,
  graph: Graph,
  task: GraphTask,
): Promise<
  { producer: string; items: TaskItem[] } | { producer: string; error: string; notYet?: true }
> {
  const wanted = task.spec.mapOver!.join(",");
  const producer = task.deps.find((d) => graph.tasks[d]?.spec.iterableItem?.join(",") === wanted)!;
  const last = await store.lastSuccess(namespace, producer);
  if (!last)
    return { producer, error: `upstream ${producer} has not produced its list yet`, notYet: true };
  try {
    return {
      producer,
      items: expandItems(task, producer, await store.result(namespace, producer)),
    };
  } catch (err) {
    return { producer, error: (err as Error).message };
  }
}

/** One line about a mapped task's items: `19/20 items done, 1 failed (T1,1: ValueError: boom)`. */
export function summarizeItems(plan: ItemPlan): string {
  const total = plan.items.length;
  if (total === 0) return "0 items (the list is empty)";
  const failed = plan.items.filter((i) => {
    const s = plan.previous.get(i.key)?.lastAttempt?.status;
    return s === "failed" || s === "cancelled";
  });
  const done = plan.items.filter((i) => plan.decisions.get(i.key)!.action === "fresh").length;
  const pending = total - done - failed.length;
  const parts = [`${done}/${total} items done`];
  if (failed.length > 0) {
    const shown = failed
      .slice(0, 3)
      .map((i) => `${i.key}: ${plan.previous.get(i.key)?.lastAttempt?.error ?? "failed"}`);
    parts.push(`${failed.length} failed (${shown.join("; ")}${failed.length > 3 ? "; …" : ""})`);
  }
  if (pending > 0) {
    const first = plan.items.find(
      (i) => plan.decisions.get(i.key)!.action === "run" && !failed.includes(i),
    )!;
    parts.push(
      `${pending} to run (${first.key}: ${plan.decisions.get(first.key)!.reasons.join("; ")})`,
    );
  }
  return parts.join(", ");
}
