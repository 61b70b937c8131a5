import type { RunObserver } from "../exec/run-events.js";
import type { Project } from "../session/project.js";
import type { ProjectRunResult } from "../session/run-lifecycle.js";
import type { RunScope } from "../session/run-scope.js";

/** How {@link runTaskUnit} runs one task. */
export interface TaskUnitOptions {
  observer: RunObserver;
  /** Recorded as the run's command (`dagwright run-task GRAPH TASK`, `dagwright worker …`). */
  command: string;
  force?: boolean;
  /** Only these items of the (mapped) task. */
  keys?: string[];
  /**
   * After `keys` ran, record the task as a whole when every item is done (default true: pods of
   * a rendered fan-out have no one else to do it). A BullMQ bundle leaves it to the whole-task
   * job its coordinator queues after the last bundle: checking would replan every item per bundle.
   */
  recordWhole?: boolean;
  /**
   * One attempt: the caller's orchestrator retries (rendered targets). Otherwise the task's own
   * `retries` run here, with backoff (a BullMQ worker).
   */
  singleAttempt: boolean;
  signal?: AbortSignal;
  /** Items of a mapped task at once (default 1). */
  jobs?: number;
  streamLogs?: boolean;
}

/**
 * Runs the one task of `scope` (opened with `only: [task]`, mode "copy") the way every remote
 * unit does: decide, run, verify and record through the task-attempt contract, without the
 * namespace lock and without sweeping orphans, because many such units run at once against one
 * namespace (pods of a rendered workflow, BullMQ workers) and whoever started them holds the lock.
 * `run-task` and `dagwright worker` both run a task through here.
 */
export function runTaskUnit(
  project: Project,
  scope: RunScope,
  options: TaskUnitOptions,
): Promise<ProjectRunResult> {
  const task = scope.selected[0]!;
  return project.run(scope, {
    observer: options.observer,
    jobs: options.jobs ?? 1,
    force: options.force ?? false,
    command: options.command,
    lock: false,
    sweepOrphans: false,
    ...(options.singleAttempt ? { singleAttempt: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.streamLogs ? { streamLogs: true } : {}),
    ...(options.keys
      ? { items: { task, keys: options.keys, recordWhole: options.recordWhole ?? true } }
      : {}),
  });
}
