import type { RunCounts, RunStatus } from "./run-events.js";
import type { RunGraphOptions } from "./run-options.js";

/** How one selected task ended in a run. */
export type TaskOutcome = "done" | "fresh" | "failed" | "skipped" | "cancelled";

/** How a whole run ended. */
export interface RunResult {
  status: RunStatus;
  counts: RunCounts;
}

/**
 * Runs the selected tasks of a plan: ready work in, outcomes and events out.
 *
 * Covers: the order (a task starts only once each selected dependency is done or fresh; a task
 * whose dependency failed, was cancelled or skipped is skipped with the reason), resource limits
 * (`jobs`, cpu and memory), retries with backoff, timeouts, cancellation through `signal` (the
 * whole process group; never recorded as a success), and one `run-end` event. Each task goes
 * through the task-attempt contract (task-attempt.ts), which decides, launches, verifies and
 * records it, so every executor records the same way.
 *
 * Leaves out: opening the project, the state store and the run record (`beginRun`/`endRun`),
 * the namespace lock and publishing artifacts other than through `beforeRecord`; the caller owns
 * those. Never rejects for a task's failure (that is an outcome); rejects only when the state
 * store does before any task ran.
 */
export interface Executor {
  run(work: RunGraphOptions): Promise<RunResult>;
}
