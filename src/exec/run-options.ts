import type { PlanContext } from "../plan/plan-task.js";
import type { StateStore } from "../state/state-store.js";
import type { WorkerPools } from "../tasks/worker-pools.js";
import type { ProcessLedger } from "./process-ledger.js";
import type { RunObserver } from "./run-events.js";

/** Options of one run of selected tasks of a graph. */
export interface RunGraphOptions {
  plan: PlanContext;
  store: StateStore;
  namespace: string;
  runId: string;
  /** Selected tasks, in topological order. Dependencies outside it count as satisfied by their last success. */
  selected: readonly string[];
  /** Absolute scratch dir (`OUTPUT_PIPELINE_DIR`). */
  scratchDir: string;
  /** Each attempt logs to a file of its own under it (see tasks/attempt-logs.ts). */
  logDir: string;
  /** Attempt logs kept per task and item, the starting one included (default 5). */
  keepLogs?: number;
  /** Emit `log` events with each line tasks write (`run -v`); off by default. */
  streamLogs?: boolean;
  jobs: number;
  force?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  observer: RunObserver;
  /** Base delay between retries, doubled per attempt (default 1000 ms, capped at 30 s). */
  retryBackoffMs?: number;
  /**
   * Called with a task's (or a bundle's) verified outputs before they are recorded: rendered
   * targets push them to the shared artifact location here, so no pod ever sees a success whose
   * files are not there yet. A rejection fails the task (or those items).
   */
  beforeRecord?: (paths: string[]) => Promise<void>;
  /** One attempt per task: the caller (an orchestrator's retryStrategy) does the retrying. */
  singleAttempt?: boolean;
  /**
   * The token of the namespace lock the caller holds (`acquireLock`). Only then may attempts'
   * begin records be deferred (invariant 2); without it they are written as attempts start.
   */
  lockToken?: string;
  /**
   * `run-task --item`: run only these items of this mapped task. After them the task as a whole
   * is recorded if every item is done, unless `recordWhole` is false: the caller queues a unit
   * for that once all bundles ended (BullMQ), so no bundle replans the whole list.
   */
  items?: { task: string; keys: string[]; recordWhole?: boolean };
  /** Records the processes tasks start, to be found if this runner dies (see stopOrphans). */
  processes?: ProcessLedger;
  /**
   * The project's environment where it differs from this process's (rendered values decoded, a
   * library caller's own env): every task gets it under its own `env`.
   */
  env?: Readonly<Record<string, string>>;
  /** The project's warm workers for function tasks (default: the launcher's own). */
  pools?: WorkerPools;
}
