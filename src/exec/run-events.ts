/**
 * An event as its emitter writes it, before it is stamped with its {@link RunEvent.time}.
 *
 * `attempt` counts a task's attempts in this run from 1; `attemptId` is the state store's id of
 * the attempt where it is known when the event is emitted (a mapped task's task-level attempt;
 * a plain task's begin record may be written later, see exec/attempt-records.ts). `logPath` names
 * the attempt's own log file, which identifies the attempt to a reader tailing it.
 */
export type RunEventInit =
  | {
      type: "run-start";
      runId: string;
      graph: string;
      namespace: string;
      tasks: string[];
      jobs: number;
    }
  | { type: "task-fresh"; task: string }
  | {
      type: "task-start";
      task: string;
      reasons: string[];
      attempt: number;
      attemptId?: number;
      logPath?: string;
      /** The worker that runs it, when it is not this process (`--executor bullmq`). */
      worker?: string;
    }
  | { type: "task-retry"; task: string; attempt: number; error: string; delayMs: number }
  | {
      type: "task-done";
      task: string;
      durationMs: number;
      peakRssKb?: number;
      attempt?: number;
      attemptId?: number;
    }
  | {
      type: "task-failed";
      task: string;
      error: string;
      attempt?: number;
      attemptId?: number;
      exitCode?: number;
      signal?: string;
      logPath: string;
      logTail: string[];
    }
  | { type: "task-cancelled"; task: string; attempt?: number; attemptId?: number }
  /** One whole line a running task wrote to its log; only when the run streams logs (`run -v`). */
  | { type: "log"; task: string; item?: string; line: string }
  | { type: "task-skipped"; task: string; reason: string }
  /** Something the user should know that did not fail the task (e.g. a kptn output matched nothing). */
  | { type: "task-warning"; task: string; item?: string; message: string }
  | { type: "task-would-run"; task: string; reasons: string[] }
  | { type: "task-items"; task: string; total: number; toRun: number; fresh: number }
  | {
      type: "task-progress";
      task: string;
      done: number;
      failed: number;
      total: number;
      ratePerSecond: number;
      etaSeconds: number | undefined;
    }
  | {
      type: "run-end";
      status: RunStatus;
      counts: RunCounts;
      durationMs: number;
      /** Decided from the no-change memo (src/cli/no-change.ts) without planning. */
      nothingChanged?: true;
      /** `--dry-run`: `counts.done` are the tasks that would run; nothing ran. */
      dryRun?: true;
    };

export type RunStatus = "succeeded" | "failed" | "cancelled";

export interface RunCounts {
  total: number;
  done: number;
  fresh: number;
  failed: number;
  skipped: number;
  cancelled: number;
}

/**
 * What the executor reports while it runs; observers (progress, JSON, the run's event log)
 * consume these. `time` (ISO 8601, UTC) is when the event was emitted: stamped once, by
 * {@link stampEvents}, so every observer and the persisted log see the same instant.
 */
export type RunEvent = RunEventInit & { time: string };

/** Receives every event in order. Observers must not throw. */
export type RunObserver = (event: RunEvent) => void;

/** Where emitters hand their events: stamps each with its time and passes it on. */
export type RunEmitter = (event: RunEventInit) => void;

/** An emitter that stamps each event with the current time and hands it to `observer`. */
export function stampEvents(observer: RunObserver): RunEmitter {
  // Events come in bursts (a thousand fresh tasks): format each millisecond once.
  let ms = -1;
  let iso = "";
  return (e) => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      iso = new Date(now).toISOString();
    }
    observer({ ...e, time: iso });
  };
}

/** Several observers as one, called in the order given. */
export function allObservers(...observers: RunObserver[]): RunObserver {
  return (e) => {
    for (const o of observers) o(e);
  };
}
