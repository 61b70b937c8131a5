import { createHash } from "node:crypto";
import { canonicalJson } from "../fingerprint/canonical-json.js";
import { type FingerprintParts, fingerprintOf } from "../fingerprint/fingerprint.js";
import { hashString } from "../fingerprint/hash-string.js";
import type { Graph, GraphTask } from "../graph/graph.js";
import type { OutputRecord, StateStore, TaskRunRecord } from "../state/state-store.js";
import { type ItemList, listItems, type TaskItem } from "./expand-items.js";
import {
  decideParts,
  type PlanContext,
  type PreviousRuns,
  type TaskDecision,
} from "./plan-task.js";

/**
 * What planning a mapped task's items found, without a per-item record: a fan-out of 1,000,000
 * items is decided page by page ({@link itemPageSize} items per state-store read) and only the
 * items to run (their indices), the counts, and the first few reasons and errors are kept.
 */
export interface ItemPlan {
  /** The planned items: all of the producer's list, or those picked. */
  items: ItemList;
  /** Indices into `items` of the items whose decision is `run`, in list order. */
  toRun: number[];
  /** How many items are fresh. */
  fresh: number;
  /** How many items' last attempt failed or was cancelled. */
  failed: number;
  /** The first {@link SHOWN_FAILURES} of those, with their errors. */
  firstFailed: { key: string; error: string }[];
  /** The first item to run, with its reasons. */
  firstToRun?: { key: string; reasons: string[] };
  /** The first item to run whose last attempt did not fail, with its reasons. */
  firstPending?: { key: string; reasons: string[] };
  /** The outputs of each item's last success, by index into `items`; items without any are absent. */
  lastOutputs: Map<number, OutputRecord[]>;
  /** Hash over (key, item fingerprint) of every planned item. */
  fingerprint: string;
  /** What an attempt of `item` records: its fingerprint and parts, as its decision has them. */
  attemptOf(item: TaskItem): { fingerprint: string; partsJson: string };
}

/** How many failed items a summary names. */
const SHOWN_FAILURES = 3;

/**
 * Items per page when planning a fan-out: one state-store read and one batch of decisions.
 * `DAGWRIGHT_ITEM_PAGE_SIZE` overrides it; that knob is internal (tests force small pages).
 */
export function itemPageSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.DAGWRIGHT_ITEM_PAGE_SIZE);
  return Number.isInteger(n) && n > 0 ? n : 2000;
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
 * `hashValue` of `[[key, item fingerprint], …]` in item order, fed a page at a time: the canonical
 * JSON is written directly (keys are the only strings that need escaping; fingerprints are hex).
 */
export class PlanFingerprint {
  private readonly hash = createHash("sha256").update("[");
  private first = true;

  /** Adds the next items' `[key, fingerprint]` pairs. */
  add(pairs: Iterable<readonly [string, string]>): void {
    let rows = "";
    for (const [key, fingerprint] of pairs) {
      rows += `${this.first ? "" : ","}[${JSON.stringify(key)},"${fingerprint}"]`;
      this.first = false;
    }
    if (rows !== "") this.hash.update(rows);
  }

  /** The fingerprint; the object is spent. */
  digest(): string {
    return this.hash.update("]").digest("hex");
  }
}

/** {@link PlanFingerprint} of all `pairs` at once. */
export function planFingerprint(pairs: Iterable<readonly [string, string]>): string {
  const h = new PlanFingerprint();
  h.add(pairs);
  return h.digest();
}

/** Counts and first reasons of an {@link ItemPlan}, filled as pages are decided. */
type PlanTally = Omit<ItemPlan, "items" | "fingerprint" | "attemptOf">;

/** Adds one item's decision to the tally. */
function tally(
  t: PlanTally,
  index: number,
  key: string,
  decision: TaskDecision,
  previous: PreviousRuns,
): void {
  const outputs = previous.lastSuccess?.outputs;
  if (outputs !== undefined && outputs.length > 0) t.lastOutputs.set(index, outputs);
  const status = previous.lastAttempt?.status;
  const failed = status === "failed" || status === "cancelled";
  if (failed) {
    t.failed++;
    if (t.firstFailed.length < SHOWN_FAILURES)
      t.firstFailed.push({ key, error: previous.lastAttempt?.error ?? "failed" });
  }
  if (decision.action === "fresh") {
    t.fresh++;
    return;
  }
  t.toRun.push(index);
  t.firstToRun ??= { key, reasons: decision.reasons };
  if (!failed) t.firstPending ??= { key, reasons: decision.reasons };
}

/**
 * Decides each item against its own last attempt and success: only items that failed, are new,
 * or whose fingerprint changed (code, args, upstream outputs) run. Items that left the list are
 * simply not considered any more. Reads the items' states a page at a time, so memory does not
 * grow with the number of items (beyond the indices of those to run).
 */
export async function planItems(
  plan: PlanContext,
  store: StateStore,
  namespace: string,
  task: GraphTask,
  base: FingerprintParts,
  items: ItemList,
  force: boolean,
  taskPrevious: PreviousRuns = {},
): Promise<ItemPlan> {
  // Items differ only in their args part. The rest is hashed once per task, and an item stores
  // only a reference to it ({$base, args}): the task-level attempt of the same run holds the base
  // parts. 100,000 items then neither canonicalize nor store the same maps 100,000 times.
  const baseKey = fingerprintOf({ ...base, args: "" });
  const argsJson = canonicalJson(task.args);
  const bases = knownBases(taskPrevious);
  bases.set(baseKey, base);
  const attemptOf = (item: TaskItem) => {
    const args = itemParts(base, task, item, argsJson).args;
    // Both are hex digests: nothing to escape.
    return {
      fingerprint: itemFingerprint(baseKey, args),
      partsJson: `{"$base":"${baseKey}","args":"${args}"}`,
    };
  };
  const t: PlanTally = { toRun: [], fresh: 0, failed: 0, firstFailed: [], lastOutputs: new Map() };
  const hash = new PlanFingerprint();
  const pageSize = itemPageSize();
  for (let start = 0; start < items.length; start += pageSize) {
    const page: TaskItem[] = [];
    for (let i = start; i < Math.min(start + pageSize, items.length); i++) page.push(items.at(i)!);
    const states = await store.itemStates(
      namespace,
      task.name,
      page.map((i) => i.key),
    );
    const pairs: [string, string][] = [];
    for (const [offset, item] of page.entries()) {
      const stored = states.get(item.key) ?? {};
      const previous: PreviousRuns = { ...stored };
      const parts = itemParts(base, task, item, argsJson);
      const fingerprint = itemFingerprint(baseKey, parts.args);
      // Parts are read only to explain a changed fingerprint: an unchanged item skips parsing them.
      if (stored.lastSuccess && stored.lastSuccess.fingerprint !== fingerprint)
        previous.lastSuccess = withBaseParts(stored.lastSuccess, bases);
      const decision = await decideParts(plan, task, parts, previous, { force, fingerprint });
      pairs.push([item.key, decision.fingerprint]);
      tally(t, start + offset, item.key, decision, previous);
    }
    hash.add(pairs);
  }
  return { items, ...t, fingerprint: hash.digest(), attemptOf };
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
  { producer: string; items: ItemList } | { producer: string; error: string; notYet?: true }
> {
  const wanted = task.spec.mapOver!.join(",");
  const producer = task.deps.find((d) => graph.tasks[d]?.spec.iterableItem?.join(",") === wanted)!;
  const last = await store.lastSuccess(namespace, producer);
  if (!last)
    return { producer, error: `upstream ${producer} has not produced its list yet`, notYet: true };
  try {
    return {
      producer,
      items: listItems(task, producer, await store.result(namespace, producer)),
    };
  } catch (err) {
    return { producer, error: (err as Error).message };
  }
}

/** One line about a mapped task's items: `19/20 items done, 1 failed (T1,1: ValueError: boom)`. */
export function summarizeItems(plan: ItemPlan): string {
  const total = plan.items.length;
  if (total === 0) return "0 items (the list is empty)";
  const pending = total - plan.fresh - plan.failed;
  const parts = [`${plan.fresh}/${total} items done`];
  if (plan.failed > 0) {
    const shown = plan.firstFailed.map((f) => `${f.key}: ${f.error}`);
    parts.push(
      `${plan.failed} failed (${shown.join("; ")}${plan.failed > SHOWN_FAILURES ? "; …" : ""})`,
    );
  }
  if (pending > 0) {
    const first = plan.firstPending!;
    parts.push(`${pending} to run (${first.key}: ${first.reasons.join("; ")})`);
  }
  return parts.join(", ");
}

/** The reason a run of a mapped task gives: `3 of 20 items to run (first: NC: never ran)`. */
export function itemRunReasons(plan: ItemPlan): string[] {
  const total = plan.items.length;
  if (total === 0) return ["0 items: the list is empty"];
  if (plan.firstToRun === undefined) return [`all ${total} items fresh`];
  const first = plan.firstToRun;
  return [
    `${plan.toRun.length} of ${total} items to run (first: ${first.key}: ${first.reasons.join("; ")})`,
  ];
}
