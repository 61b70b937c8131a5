import type { GraphTask } from "../graph/graph.js";
import type { TaskItem } from "../plan/expand-items.js";
import type { ItemPlan } from "../plan/plan-items.js";
import type { PlanContext } from "../plan/plan-task.js";
import type { OutputRecord, StateStore } from "../state/state-store.js";
import { newAttemptLogPath, pruneAttemptLogs } from "../tasks/attempt-logs.js";
import { launchItems } from "../tasks/launch-items.js";
import type { LogFollower } from "../tasks/log-follower.js";
import type { WorkerPools } from "../tasks/worker-pools.js";
import { type AsideOutputs, moveItemOutputsAside } from "./attempt-outputs.js";
import type { AttemptRecorder } from "./attempt-records.js";
import { collectOutputs, unmatchedWarning } from "./collect-outputs.js";
import { OutputClaims } from "./output-claims.js";
import { escapeMessage } from "./output-realpath.js";
import type { ProcessLedger } from "./process-ledger.js";
import type { RunEmitter } from "./run-events.js";

/** What running a mapped task needs from the surrounding run. */
export interface MappedRunEnv {
  plan: PlanContext;
  store: StateStore;
  /** The run's attempt records (see {@link AttemptRecorder}). */
  recorder: AttemptRecorder;
  namespace: string;
  runId: string;
  logDir: string;
  /** See RunGraphOptions.keepLogs. */
  keepLogs: number;
  /** Set when the run streams log lines (`run -v`). */
  follower?: LogFollower;
  jobs: number;
  force: boolean;
  dryRun: boolean;
  signal?: AbortSignal;
  observer: RunEmitter;
  /** Launch inputs shared by every item (deps results, args, config) and env. */
  inputs: {
    deps: Record<string, unknown>;
    args: Record<string, unknown>;
    config: Record<string, unknown>;
  };
  env: Record<string, string>;
  scratchDir: string;
  /** See RunGraphOptions.beforeRecord. */
  beforeRecord?: (paths: string[]) => Promise<void>;
  /** See RunGraphOptions.lockToken: without it, items' begins are written as they start. */
  lockToken?: string;
  /** See RunGraphOptions.processes. */
  processes?: ProcessLedger;
  /** See RunGraphOptions.pools. */
  pools?: WorkerPools;
}

/** Outcome of a mapped task: `done` when every item succeeded (or was fresh). */
export interface MappedResult {
  outcome: "done" | "fresh" | "failed" | "cancelled";
  /** Outputs of every current item (for the task-level record downstream tasks fingerprint). */
  outputs: OutputRecord[];
  error?: string;
}

/** How many failed items a task's error names. */
const SHOWN_FAILURES = 3;

/** One item to run: where it is in the plan's list, and the item. */
interface Slot {
  index: number;
  item: TaskItem;
}

/**
 * What a mapped run keeps while its bundles run: counts, the first failures, and the outputs of
 * items that have any (by index into the plan's items), so memory follows the outputs, not the
 * number of items.
 */
interface MappedProgress {
  outputs: Map<number, OutputRecord[]>;
  done: number;
  failed: number;
  firstFailures: { key: string; error: string }[];
  cancelled: boolean;
  started: number;
  toRun: number;
  /** A kptn output pattern matched nothing for some item: warned once per task and run. */
  unmatchedWarned: boolean;
}

function addFailure(p: MappedProgress, key: string, error: string): void {
  p.failed++;
  if (p.firstFailures.length < SHOWN_FAILURES) p.firstFailures.push({ key, error });
}

/**
 * Runs the items of a mapped task that need it, `bundle_size` items per worker call, bundles in
 * groups of `group_size` (each group finishes before the next starts), up to `jobs` bundles at once.
 * Each item is recorded on its own: done only after its outputs exist; a failing item does not
 * hide the others. Bundles are built as they start, from the plan's indices of the items to run.
 */
export async function runMappedItems(
  env: MappedRunEnv,
  task: GraphTask,
  plan: ItemPlan,
  only?: ReadonlySet<string>,
): Promise<MappedResult> {
  const name = task.name;
  const toRun =
    only === undefined ? plan.toRun : plan.toRun.filter((i) => only.has(plan.items.at(i)!.key));
  const total = plan.items.length;
  if (env.dryRun) return reportWouldRun(env, name, plan, toRun);
  env.observer({
    type: "task-items",
    task: name,
    total,
    toRun: toRun.length,
    fresh: total - toRun.length,
  });
  const progress: MappedProgress = {
    outputs: new Map(plan.lastOutputs),
    done: 0,
    failed: 0,
    firstFailures: [],
    cancelled: false,
    started: Date.now(),
    toRun: toRun.length,
    unmatchedWarned: false,
  };
  // An item that runs keeps only the outputs this run records for it.
  for (const i of toRun) progress.outputs.delete(i);
  const claims = new OutputClaims(env.plan.graph, env.plan.outputsDir);
  const bundleSize = task.spec.bundleSize ?? 1;
  const bundles = Math.ceil(toRun.length / bundleSize);
  const groupSize = Math.max(1, task.spec.groupSize ?? bundles);
  const bundleAt = (b: number): Slot[] =>
    toRun
      .slice(b * bundleSize, (b + 1) * bundleSize)
      .map((index) => ({ index, item: plan.items.at(index)! }));
  const runBundle = async (bundle: Slot[]): Promise<void> => {
    if (env.signal?.aborted) {
      progress.cancelled = true;
      return;
    }
    let asides: (AsideOutputs | undefined)[];
    try {
      asides = await moveItemOutputsAside(
        env.plan,
        task.spec,
        bundle.map((s) => s.item),
        (rel) => claims.byOther(name, rel),
        env.namespace,
      );
    } catch (err) {
      // These items cannot start (an output leads outside, an earlier copy cannot move): they
      // fail, and the other bundles run and are recorded as usual.
      for (const s of bundle) addFailure(progress, s.item.key, (err as Error).message);
      return;
    }
    const settled = { done: false };
    try {
      await attemptBundle(env, task, plan, bundle, asides, settled, progress);
    } catch (err) {
      // Whatever throws before the bundle settled puts the items' earlier outputs back first.
      if (!settled.done) for (const a of asides) await a?.restore();
      throw err;
    }
  };

  for (let g = 0; g < bundles; g += groupSize) {
    // Up to `jobs` bundles of this group at once; the group finishes before the next starts.
    const end = Math.min(g + groupSize, bundles);
    let next = g;
    const workers = Array.from({ length: Math.min(env.jobs, end - g) }, async () => {
      while (next < end) await runBundle(bundleAt(next++));
    });
    // Every bundle in flight settles (and is recorded) before an error ends the task.
    const ended = await Promise.allSettled(workers);
    const thrown = ended.find((r) => r.status === "rejected");
    if (thrown) throw (thrown as PromiseRejectedResult).reason;
    if (progress.cancelled || env.signal?.aborted) {
      progress.cancelled = true;
      break;
    }
  }
  return mappedResult(progress, total);
}

/** A dry run: how many items would run, and why the first one would. */
function reportWouldRun(
  env: MappedRunEnv,
  name: string,
  plan: ItemPlan,
  toRun: readonly number[],
): MappedResult {
  if (toRun.length > 0) {
    const key = plan.items.at(toRun[0]!)!.key;
    const first = plan.firstToRun?.key === key ? plan.firstToRun.reasons.join("; ") : "";
    const total = plan.items.length;
    env.observer({
      type: "task-would-run",
      task: name,
      reasons: [`${toRun.length} of ${total} items (first: ${key}${first ? `: ${first}` : ""})`],
    });
  }
  return { outcome: toRun.length > 0 ? "done" : "fresh", outputs: [] };
}

/** The task's outcome from its items': outputs in list order (the last writer of a path wins). */
function mappedResult(p: MappedProgress, total: number): MappedResult {
  const all = [...p.outputs.keys()].sort((a, b) => a - b).flatMap((i) => p.outputs.get(i)!);
  if (p.cancelled) return { outcome: "cancelled", outputs: all };
  if (p.failed > 0) {
    const shown = p.firstFailures.map((f) => `${f.key}: ${f.error}`).join("; ");
    return {
      outcome: "failed",
      outputs: all,
      error: `${total - p.failed}/${total} items done, ${p.failed} failed (${shown}${p.failed > SHOWN_FAILURES ? "; …" : ""})`,
    };
  }
  return { outcome: p.toRun === 0 ? "fresh" : "done", outputs: all };
}

/** An item's end in a bundle: its outputs, or why it failed. */
type ItemEnd =
  | { slot: Slot; outputs: OutputRecord[]; durationMs: number }
  | {
      slot: Slot;
      status: "failed" | "cancelled";
      error: string;
      durationMs: number;
      /** Failed only when its outputs could not be published: reported after the others. */
      late?: true;
    };

/**
 * Launches one bundle, records each item's outcome (one transaction), puts back or drops the
 * outputs moved aside, and reports progress.
 */
async function attemptBundle(
  env: MappedRunEnv,
  task: GraphTask,
  plan: ItemPlan,
  bundle: Slot[],
  asides: readonly (AsideOutputs | undefined)[],
  settled: { done: boolean },
  progress: MappedProgress,
): Promise<void> {
  const name = task.name;
  // A bundle writes one log, in its first item's directory; every item's record points at it.
  const first = bundle[0]!.item.key;
  const logPath = newAttemptLogPath(env.logDir, name, first);
  pruneAttemptLogs(logPath, env.keepLogs);
  const record = env.recorder.start(
    bundle.map(({ item }) => ({
      runId: env.runId,
      namespace: env.namespace,
      task: name,
      item: item.key,
      ...plan.attemptOf(item),
      parts: null,
      logPath,
    })),
    env.lockToken,
  );
  const label = bundle.length === 1 ? first : `${first}…${bundle[bundle.length - 1]!.item.key}`;
  const unfollow = env.follower?.follow(
    logPath,
    (line, item) => env.observer({ type: "log", task: name, item: item ?? label, line }),
    { item: label },
  );
  const { outcomes } = await launchItems({
    task: task.spec,
    root: env.plan.spec.root,
    inputs: env.inputs,
    env: env.env,
    scratchDir: env.scratchDir,
    ...(env.pools ? { pools: env.pools } : {}),
    logPath,
    items: bundle.map(({ item }) => ({ key: item.key, values: item.values })),
    ...(task.spec.timeoutSeconds !== undefined ? { timeoutSeconds: task.spec.timeoutSeconds } : {}),
    ...(env.signal ? { signal: env.signal } : {}),
    ...(env.processes ? { processesOf: (key: string) => env.processes?.hooks(name, key) } : {}),
  }).finally(() => unfollow?.());
  const ends = await itemEnds(env, bundle, new Map(outcomes.map((o) => [o.key, o])), (item, u) => {
    if (progress.unmatchedWarned) return;
    progress.unmatchedWarned = true;
    const message = `${unmatchedWarning(u)}; further items are not reported`;
    env.observer({ type: "task-warning", task: name, item, message });
  });
  // Each item is recorded done only after its outputs were found; a bundle is one transaction.
  const recorded = await record.finish(
    ends.map((e) =>
      "outputs" in e
        ? { completion: { outputs: e.outputs, durationMs: e.durationMs } }
        : { failure: { status: e.status, error: e.error, durationMs: e.durationMs } },
    ),
  );
  settled.done = true;
  for (const [i, e] of ends.entries()) {
    if ("outputs" in e) asides[i]?.discard();
    else await asides[i]?.restore();
  }
  tallyBundle(env, name, ends, recorded, progress);
}

/** Counts a recorded bundle's items into the task's progress, and reports it. */
function tallyBundle(
  env: MappedRunEnv,
  name: string,
  ends: readonly ItemEnd[],
  recorded: readonly boolean[],
  progress: MappedProgress,
): void {
  // Failures in the order a task's error names them: superseded items, failed ones, then those
  // whose outputs could not be published.
  for (const [i, e] of ends.entries()) {
    if (!("outputs" in e)) continue;
    if (recorded[i]) {
      if (e.outputs.length > 0) progress.outputs.set(e.slot.index, e.outputs);
      progress.done++;
    }
    // A completion the store refused was superseded: the current attempt owns the files now.
    else addFailure(progress, e.slot.item.key, "superseded by a newer attempt of the same item");
  }
  for (const late of [false, true])
    for (const e of ends) {
      if ("outputs" in e || (e.late === true) !== late) continue;
      if (e.status === "cancelled") progress.cancelled = true;
      addFailure(progress, e.slot.item.key, e.error);
    }
  const elapsed = (Date.now() - progress.started) / 1000;
  const finished = progress.done + progress.failed;
  env.observer({
    type: "task-progress",
    task: name,
    done: progress.done,
    failed: progress.failed,
    total: progress.toRun,
    ratePerSecond: elapsed > 0 ? finished / elapsed : 0,
    etaSeconds: finished > 0 ? ((progress.toRun - finished) * elapsed) / finished : undefined,
  });
}

/**
 * Each item's end, in bundle order: a success whose outputs were all found (and published, with
 * `beforeRecord`), or a failure.
 */
async function itemEnds(
  env: MappedRunEnv,
  bundle: readonly Slot[],
  byKey: ReadonlyMap<string, { status: string; error?: string; durationMs?: number }>,
  warnUnmatched: (item: string, unmatched: readonly string[]) => void,
): Promise<ItemEnd[]> {
  const ends: ItemEnd[] = [];
  for (const slot of bundle) {
    const outcome = byKey.get(slot.item.key);
    const durationMs = outcome?.durationMs ?? 0;
    if (outcome?.status === "succeeded") {
      const collected = await collectOutputs(env.plan, slot.item.outputs);
      if ("records" in collected) {
        ends.push({ slot, outputs: collected.records, durationMs });
        if (collected.unmatched !== undefined) warnUnmatched(slot.item.key, collected.unmatched);
      } else {
        const error =
          "missing" in collected
            ? `exited 0 but did not write ${collected.missing.join(", ")}`
            : `exited 0, but ${escapeMessage(collected.escaped.rel, collected.escaped.real, env.plan.outputsDir)}`;
        ends.push({ slot, status: "failed", error, durationMs });
      }
      continue;
    }
    ends.push({
      slot,
      status: outcome?.status === "cancelled" ? "cancelled" : "failed",
      error: outcome?.error ?? outcome?.status ?? "no outcome reported",
      durationMs,
    });
  }
  const paths = ends.flatMap((e) => ("outputs" in e ? e.outputs.map((o) => o.path) : []));
  if (env.beforeRecord && ends.some((e) => "outputs" in e)) {
    try {
      await env.beforeRecord(paths);
    } catch (err) {
      const error = `outputs could not be published: ${(err as Error).message}`;
      return ends.map((e) =>
        "outputs" in e
          ? { slot: e.slot, status: "failed", error, durationMs: e.durationMs, late: true }
          : e,
      );
    }
  }
  return ends;
}
