/** What the executor reports while it runs; observers (progress, JSON, logs) consume these. */
export type RunEvent =
  | {
      type: "run-start";
      runId: string;
      graph: string;
      namespace: string;
      tasks: string[];
      jobs: number;
    }
  | { type: "task-fresh"; task: string }
  | { type: "task-start"; task: string; reasons: string[]; attempt: number }
  | { type: "task-retry"; task: string; attempt: number; error: string; delayMs: number }
  | { type: "task-done"; task: string; durationMs: number; peakRssKb?: number }
  | {
      type: "task-failed";
      task: string;
      error: string;
      exitCode?: number;
      signal?: string;
      logPath: string;
      logTail: string[];
    }
  | { type: "task-cancelled"; task: string }
  /** One whole line a running task wrote to its log; only when the run streams logs (`run -v`). */
  | { type: "log"; task: string; item?: string; line: string }
  | { type: "task-skipped"; task: string; reason: string }
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

/** Receives every event in order. Observers must not throw. */
export type RunObserver = (event: RunEvent) => void;
