import type { GraphTask } from "../graph/graph.js";
import { decideMapped } from "../plan/decide-mapped.js";
import { itemRunReasons } from "../plan/plan-items.js";
import type { TaskJobProgress } from "./bullmq-job.js";
import type { JobEnd } from "./bullmq-queues.js";
import type { TaskOutcome } from "./executor.js";
import { runMappedTask } from "./mapped-task.js";
import type { RunScope } from "./run-scope.js";

/** How the coordinator queues one unit of a task and reads its outcome (see BullmqRun). */
export interface TaskJobs {
  /** Queues the task's job (only `keys` of its items, when given) and resolves when it ends. */
  submit(
    task: GraphTask,
    key: string,
    keys: string[] | undefined,
    relay: (p: TaskJobProgress) => void,
    /** Overrides the run's `--force` for this job. */
    force?: boolean,
  ): Promise<JobEnd>;
  /** The task's outcome from its whole-task job's end, checked against the state store. */
  outcome(task: GraphTask, end: JobEnd, successBefore: number | undefined): Promise<TaskOutcome>;
  /** Relays a worker's event as the coordinator's own (`bundle`: the items of the job it is from). */
  relay(p: TaskJobProgress, bundle?: readonly string[]): void;
}

/**
 * A mapped task on the queues: decided here (a fresh task, or one whose items cannot be listed,
 * is settled as a local run would), then one job per `bundle_size` items that must run, spread
 * over the workers, and, once every bundle is done, one job for the task as a whole, which finds
 * the items fresh and records the task. The bundles' own task events are folded into one start
 * and one outcome; their log lines pass through. An item that failed (its record says so) or a
 * cancelled bundle ends the task so, without the whole-task job (which would run the failed items
 * again).
 */
export async function runMappedOnQueues(
  scope: RunScope,
  task: GraphTask,
  jobs: TaskJobs,
  key: string,
  successBefore: number | undefined,
): Promise<TaskOutcome> {
  const { o } = scope;
  const name = task.name;
  const started = Date.now();
  const prev = scope.states.get(name) ?? {};
  const decided = await decideMapped(o.plan, o.store, o.namespace, task, scope.upstream, prev, {
    force: o.force ?? false,
  });
  if ("error" in decided || decided.fresh) return runMappedTask(scope, task);
  const { plan } = decided;
  scope.observer({ type: "task-start", task: name, reasons: itemRunReasons(plan), attempt: 1 });
  const size = task.spec.bundleSize ?? 1;
  const keys = plan.toRun.map((i) => plan.items.at(i)!.key);
  const bundles: string[][] = [];
  for (let i = 0; i < keys.length; i += size) bundles.push(keys.slice(i, i + size));
  const ends = await Promise.all(
    bundles.map((bundle) =>
      jobs.submit(task, `${key}:${JSON.stringify(bundle)}`, bundle, (p) => {
        if (p.event.type === "log") jobs.relay(p, bundle);
      }),
    ),
  );
  const cancelled = ends.some(
    (e) => e.kind === "removed" || (e.kind === "completed" && e.result.outcome === "cancelled"),
  );
  if (cancelled) {
    scope.observer({ type: "task-cancelled", task: name, attempt: 1 });
    return "cancelled";
  }
  // Bundles that end together race to record the task as a whole (all but one are superseded):
  // their items' records, not their outcomes, say whether every item is done.
  const error = await itemFailures(scope, name, keys, ends);
  if (error !== undefined) {
    scope.observer({
      type: "task-failed",
      task: name,
      error,
      attempt: 1,
      logPath: "",
      logTail: [],
    });
    return "failed";
  }
  // Bundles leave the task as a whole unrecorded (each would replan every item): this job finds
  // the items fresh and records it. A coordinator that died before queueing it queues it on its
  // next run, all items being fresh then. Never forced: the bundles ran every item that had to.
  const whole = await jobs.submit(
    task,
    key,
    undefined,
    (p) => {
      if (p.event.type !== "task-start" && p.event.type !== "task-fresh") jobs.relay(p);
    },
    false,
  );
  const outcome = await jobs.outcome(task, whole, successBefore);
  if (outcome !== "fresh") return outcome;
  scope.observer({ type: "task-done", task: name, durationMs: Date.now() - started, attempt: 1 });
  return "done";
}

/** How many items shown by name in a failure. */
const SHOWN = 3;

/** Why the bundles did not bring every item up to date, from the items' records; else undefined. */
async function itemFailures(
  scope: RunScope,
  name: string,
  keys: readonly string[],
  ends: readonly JobEnd[],
): Promise<string | undefined> {
  const lost = ends.find((e) => e.kind === "failed");
  if (lost?.kind === "failed") return `the worker could not run a bundle: ${lost.reason}`;
  const states = await scope.o.store.itemStates(scope.o.namespace, name, keys);
  const failed = keys.filter((k) => states.get(k)?.lastAttempt?.status !== "succeeded");
  if (failed.length === 0) return undefined;
  const shown = failed
    .slice(0, SHOWN)
    .map((k) => `${k}: ${states.get(k)?.lastAttempt?.error ?? "not run"}`);
  const more = failed.length > SHOWN ? "; …" : "";
  return `${keys.length - failed.length}/${keys.length} items done, ${failed.length} failed (${shown.join("; ")}${more})`;
}
