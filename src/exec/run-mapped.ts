import type { GraphTask } from "../graph/graph.js";
import type { TaskItem } from "../plan/expand-items.js";
import type { ItemPlan } from "../plan/plan-items.js";
import type { PlanContext } from "../plan/plan-task.js";
import type { OutputRecord, StateStore } from "../state/state-store.js";
import { newAttemptLogPath, pruneAttemptLogs } from "../tasks/attempt-logs.js";
import { launchItems } from "../tasks/launch-items.js";
import type { LogFollower } from "../tasks/log-follower.js";
import { type AsideOutputs, moveItemOutputsAside } from "./attempt-outputs.js";
import { type AttemptOutcome, startAttempts } from "./attempt-records.js";
import { collectOutputs } from "./collect-outputs.js";
import { OutputClaims } from "./output-claims.js";
import { escapeMessage } from "./output-realpath.js";
import type { ProcessLedger } from "./process-ledger.js";
import type { RunObserver } from "./run-events.js";

/** What running a mapped task needs from the surrounding run. */
export interface MappedRunEnv {
  plan: PlanContext;
  store: StateStore;
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
  observer: RunObserver;
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
}

function chunk<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Outcome of a mapped task: `done` when every item succeeded (or was fresh). */
export interface MappedResult {
  outcome: "done" | "fresh" | "failed" | "cancelled";
  /** Outputs of every current item (for the task-level record downstream tasks fingerprint). */
  outputs: OutputRecord[];
  error?: string;
}

/**
 * Runs the items of a mapped task that need it, `bundle_size` items per worker call, bundles in
 * groups of `group_size` (each group finishes before the next starts), up to `jobs` bundles at once.
 * Each item is recorded on its own: done only after its outputs exist; a failing item does not
 * hide the others.
 */
export async function runMappedItems(
  env: MappedRunEnv,
  task: GraphTask,
  plan: ItemPlan,
  only?: ReadonlySet<string>,
): Promise<MappedResult> {
  const name = task.name;
  const toRun = plan.items.filter(
    (i) => (only === undefined || only.has(i.key)) && plan.decisions.get(i.key)!.action === "run",
  );
  const total = plan.items.length;
  const freshCount = plan.items.length - toRun.length;
  if (env.dryRun) {
    if (toRun.length > 0) {
      const first = toRun[0]!;
      env.observer({
        type: "task-would-run",
        task: name,
        reasons: [
          `${toRun.length} of ${total} items (first: ${first.key}: ${plan.decisions.get(first.key)!.reasons.join("; ")})`,
        ],
      });
    }
    return { outcome: toRun.length > 0 ? "done" : "fresh", outputs: [] };
  }
  env.observer({ type: "task-items", task: name, total, toRun: toRun.length, fresh: freshCount });
  const outputs = new Map<string, OutputRecord[]>();
  const running = new Set(toRun);
  for (const item of plan.items) {
    if (!running.has(item))
      outputs.set(item.key, plan.previous.get(item.key)?.lastSuccess?.outputs ?? []);
  }
  const failures: { key: string; error: string }[] = [];
  let done = 0;
  let cancelled = false;
  const started = Date.now();
  const bundles = chunk(toRun, task.spec.bundleSize ?? 1);
  const groups = chunk(bundles, Math.max(1, task.spec.groupSize ?? bundles.length));
  const claims = new OutputClaims(env.plan.graph, env.plan.outputsDir);
  const runBundle = async (bundle: TaskItem[]): Promise<void> => {
    if (env.signal?.aborted) {
      cancelled = true;
      return;
    }
    const asides = await moveItemOutputsAside(
      env.plan,
      task.spec,
      bundle,
      (rel) => claims.byOther(name, rel),
      env.namespace,
    );
    const settled = { done: false };
    try {
      await attemptBundle(bundle, asides, settled);
    } catch (err) {
      // Whatever throws before the bundle settled puts the items' earlier outputs back first.
      if (!settled.done) for (const a of asides) await a?.restore();
      throw err;
    }
  };
  const attemptBundle = async (
    bundle: TaskItem[],
    asides: readonly (AsideOutputs | undefined)[],
    settled: { done: boolean },
  ): Promise<void> => {
    // A bundle writes one log, in its first item's directory; every item's record points at it.
    const first = bundle[0]!.key;
    const logPath = newAttemptLogPath(env.logDir, name, first);
    pruneAttemptLogs(logPath, env.keepLogs);
    const record = startAttempts(
      env.store,
      bundle.map((item) => {
        const d = plan.decisions.get(item.key)!;
        return {
          runId: env.runId,
          namespace: env.namespace,
          task: name,
          item: item.key,
          fingerprint: d.fingerprint,
          parts: d.parts,
          logPath,
          ...(d.partsJson !== undefined ? { partsJson: d.partsJson } : {}),
        };
      }),
      env.lockToken,
    );
    const label = bundle.length === 1 ? first : `${first}…${bundle[bundle.length - 1]!.key}`;
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
      logPath,
      items: bundle.map((i) => ({ key: i.key, values: i.values })),
      ...(task.spec.timeoutSeconds !== undefined
        ? { timeoutSeconds: task.spec.timeoutSeconds }
        : {}),
      ...(env.signal ? { signal: env.signal } : {}),
      ...(env.processes ? { processesOf: (key: string) => env.processes?.hooks(name, key) } : {}),
    }).finally(() => unfollow?.());
    const byKey = new Map(outcomes.map((o) => [o.key, o]));
    const completions: { item: TaskItem; outputs: OutputRecord[]; durationMs: number }[] = [];
    const failedHere: {
      item: TaskItem;
      status: "failed" | "cancelled";
      error: string;
      durationMs: number;
    }[] = [];
    for (const item of bundle) {
      const outcome = byKey.get(item.key);
      const durationMs = outcome?.durationMs ?? 0;
      if (outcome?.status === "succeeded") {
        const collected = await collectOutputs(env.plan, item.outputs);
        if (!("records" in collected)) {
          const { outputsDir } = env.plan;
          const error =
            "missing" in collected
              ? `exited 0 but did not write ${collected.missing.join(", ")}`
              : `exited 0, but ${escapeMessage(collected.escaped.rel, collected.escaped.real, outputsDir)}`;
          failedHere.push({ item, status: "failed", error, durationMs });
        } else {
          completions.push({ item, outputs: collected.records, durationMs });
        }
        continue;
      }
      const status = outcome?.status === "cancelled" ? "cancelled" : "failed";
      failedHere.push({
        item,
        status,
        error: outcome?.error ?? outcome?.status ?? "no outcome reported",
        durationMs,
      });
    }
    if (env.beforeRecord && completions.length > 0) {
      try {
        await env.beforeRecord(completions.flatMap((c) => c.outputs.map((o) => o.path)));
      } catch (err) {
        for (const c of completions.splice(0)) {
          failedHere.push({
            item: c.item,
            status: "failed",
            error: `outputs could not be published: ${(err as Error).message}`,
            durationMs: c.durationMs,
          });
        }
      }
    }
    // Each item is recorded done only after its outputs were found; a bundle is one transaction.
    const outcomeOf = new Map<TaskItem, AttemptOutcome>();
    for (const c of completions)
      outcomeOf.set(c.item, { completion: { outputs: c.outputs, durationMs: c.durationMs } });
    for (const f of failedHere)
      outcomeOf.set(f.item, {
        failure: { status: f.status, error: f.error, durationMs: f.durationMs },
      });
    const recorded = await record.finish(bundle.map((item) => outcomeOf.get(item)!));
    const ok = new Map(bundle.map((item, i) => [item, recorded[i]!]));
    // A completion the store refused was superseded: the current attempt owns the files now.
    const completed = new Set(completions.map((c) => c.item));
    settled.done = true;
    for (const [i, item] of bundle.entries()) {
      if (completed.has(item)) asides[i]?.discard();
      else await asides[i]?.restore();
    }
    for (const c of completions) {
      if (ok.get(c.item)) {
        outputs.set(c.item.key, c.outputs);
        done++;
      } else
        failures.push({ key: c.item.key, error: "superseded by a newer attempt of the same item" });
    }
    for (const f of failedHere) {
      if (f.status === "cancelled") cancelled = true;
      failures.push({ key: f.item.key, error: f.error });
    }
    const elapsed = (Date.now() - started) / 1000;
    const finished = done + failures.length;
    env.observer({
      type: "task-progress",
      task: name,
      done,
      failed: failures.length,
      total: toRun.length,
      ratePerSecond: elapsed > 0 ? finished / elapsed : 0,
      etaSeconds: finished > 0 ? ((toRun.length - finished) * elapsed) / finished : undefined,
    });
  };

  for (const group of groups) {
    // Up to `jobs` bundles of this group at once; the group finishes before the next starts.
    const queue = [...group];
    const workers = Array.from({ length: Math.min(env.jobs, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await runBundle(next);
    });
    await Promise.all(workers);
    if (cancelled || env.signal?.aborted) {
      cancelled = true;
      break;
    }
  }

  const all = plan.items.flatMap((i) => outputs.get(i.key) ?? []);
  if (cancelled) return { outcome: "cancelled", outputs: all };
  if (failures.length > 0) {
    const shown = failures
      .slice(0, 3)
      .map((f) => `${f.key}: ${f.error}`)
      .join("; ");
    return {
      outcome: "failed",
      outputs: all,
      error: `${total - failures.length}/${total} items done, ${failures.length} failed (${shown}${failures.length > 3 ? "; …" : ""})`,
    };
  }
  return { outcome: toRun.length === 0 ? "fresh" : "done", outputs: all };
}
