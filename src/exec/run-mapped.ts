import path from "node:path";
import { expandPatterns } from "../fingerprint/expand-patterns.js";
import { hashFiles } from "../fingerprint/hash-files.js";
import type { GraphTask } from "../graph/graph.js";
import type { TaskItem } from "../plan/expand-items.js";
import type { ItemPlan } from "../plan/plan-items.js";
import type { PlanContext } from "../plan/plan-task.js";
import type { OutputRecord, StateStore } from "../state/state-store.js";
import { launchItems } from "../tasks/launch-items.js";
import type { RunObserver } from "./run-events.js";

/** What running a mapped task needs from the surrounding run. */
export interface MappedRunEnv {
  plan: PlanContext;
  store: StateStore;
  namespace: string;
  runId: string;
  logDir: string;
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
}

function chunk<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** The outputs an item wrote, or the patterns it failed to write. */
async function itemOutputs(env: MappedEnv, item: TaskItem): Promise<OutputRecord[] | string[]> {
  const { plan } = env;
  const files: string[] = [];
  const missing: string[] = [];
  for (const pattern of item.outputs) {
    if (pattern.startsWith("duckdb://")) continue;
    const found = await expandPatterns(plan.outputsDir, [pattern]);
    if (found.length === 0) missing.push(pattern);
    files.push(
      ...found.map((f) =>
        path.relative(plan.spec.root, path.join(plan.outputsDir, f)).split(path.sep).join("/"),
      ),
    );
  }
  if (missing.length > 0) return missing;
  const hashes = await hashFiles(
    files.map((f) => path.join(plan.spec.root, f)),
    plan.fileCache,
  );
  return files.map((f) => {
    const h = hashes.get(path.join(plan.spec.root, f))!;
    return { path: f, hash: h.hash, size: h.size, mtimeMs: h.mtimeMs };
  });
}

type MappedEnv = MappedRunEnv;

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
  env: MappedEnv,
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
  for (const item of plan.items) {
    if (!toRun.includes(item)) {
      const last = await env.store.lastSuccess(env.namespace, name, item.key);
      outputs.set(item.key, last?.outputs ?? []);
    }
  }
  const failures: { key: string; error: string }[] = [];
  let done = 0;
  let cancelled = false;
  const started = Date.now();
  const bundles = chunk(toRun, task.spec.bundleSize ?? 1);
  const groups = chunk(bundles, task.spec.groupSize ?? bundles.length ?? 1);
  const runBundle = async (bundle: TaskItem[], index: number): Promise<void> => {
    if (env.signal?.aborted) {
      cancelled = true;
      return;
    }
    const attempts = new Map<string, number>();
    for (const item of bundle) {
      const d = plan.decisions.get(item.key)!;
      attempts.set(
        item.key,
        await env.store.beginAttempt({
          runId: env.runId,
          namespace: env.namespace,
          task: name,
          item: item.key,
          fingerprint: d.fingerprint,
          parts: d.parts,
        }),
      );
    }
    const logPath = path.join(
      env.logDir,
      name,
      `${bundle.length === 1 ? bundle[0]!.key.replace(/[^A-Za-z0-9_.,=-]/g, "_") : `bundle-${index}`}.log`,
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
    });
    for (const item of bundle) {
      const outcome = outcomes.find((o) => o.key === item.key);
      const attemptId = attempts.get(item.key)!;
      let error = outcome?.error ?? outcome?.status ?? "no outcome reported";
      if (outcome?.status === "succeeded") {
        const recorded = await itemOutputs(env, item);
        if (recorded.length > 0 && typeof recorded[0] === "string") {
          error = `exited 0 but did not write ${(recorded as string[]).join(", ")}`;
        } else {
          const ok = await env.store.completeAttempt(attemptId, {
            outputs: recorded as OutputRecord[],
            durationMs: outcome.durationMs,
          });
          if (ok) {
            outputs.set(item.key, recorded as OutputRecord[]);
            done++;
            continue;
          }
          error = "superseded by a newer attempt of the same item";
        }
      }
      const status = outcome?.status === "cancelled" ? "cancelled" : "failed";
      if (status === "cancelled") cancelled = true;
      await env.store.failAttempt(attemptId, {
        status,
        error,
        durationMs: outcome?.durationMs ?? 0,
      });
      failures.push({ key: item.key, error });
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

  let index = 0;
  for (const group of groups) {
    // Up to `jobs` bundles of this group at once; the group finishes before the next starts.
    const queue = group.map((b) => ({ b, i: index++ }));
    const workers = Array.from({ length: Math.min(env.jobs, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await runBundle(next.b, next.i);
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
