import type { GraphTask } from "../graph/graph.js";
import type { TaskDecision } from "../plan/plan-task.js";
import type { TaskOutcome } from "./executor.js";
import type { RunScope } from "./run-scope.js";
import { type AttemptLauncher, runTaskAttempt } from "./task-attempt.js";

/** Retries wait at most this long, however many there were before. */
const MAX_BACKOFF_MS = 30_000;

/**
 * Runs attempts of a task until one succeeds, the task's `retries` are spent (none with
 * `singleAttempt`: the caller's orchestrator retries) or the run is cancelled (`cancelled()`).
 * Each retry waits `retryBackoffMs` (default 1 s) doubled per attempt, up to 30 s, and is
 * reported (`task-retry`); the outcome is reported once (`task-done`, `task-failed` with the
 * last attempt's error and log tail, `task-cancelled`, or `task-skipped` when it never started).
 */
export async function runWithRetries(
  scope: RunScope,
  task: GraphTask,
  decision: TaskDecision,
  launch: AttemptLauncher,
  cancelled: () => boolean,
): Promise<TaskOutcome> {
  const { o, observer } = scope;
  const name = task.name;
  for (let attempt = 1; ; attempt++) {
    const end = await runTaskAttempt(scope, task, decision, attempt, launch);
    if (end.kind === "not-started") {
      observer({ type: "task-skipped", task: name, reason: "run cancelled" });
      return "skipped";
    }
    const { result } = end;
    if (end.kind === "done") {
      if (result.peakRssKb !== undefined)
        observer({
          type: "task-done",
          task: name,
          durationMs: result.durationMs,
          peakRssKb: result.peakRssKb,
          attempt,
        });
      else observer({ type: "task-done", task: name, durationMs: result.durationMs, attempt });
      return "done";
    }
    if (end.status === "cancelled" || cancelled()) {
      observer({ type: "task-cancelled", task: name, attempt });
      return "cancelled";
    }
    if (!o.singleAttempt && attempt <= task.spec.retries) {
      const delayMs = Math.min(MAX_BACKOFF_MS, (o.retryBackoffMs ?? 1000) * 2 ** (attempt - 1));
      observer({ type: "task-retry", task: name, attempt, error: end.error, delayMs });
      await sleep(delayMs, o.signal);
      if (cancelled()) {
        observer({ type: "task-cancelled", task: name, attempt });
        return "cancelled";
      }
      continue;
    }
    observer({
      type: "task-failed",
      task: name,
      error: end.error,
      attempt,
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(result.signal !== undefined ? { signal: result.signal } : {}),
      logPath: end.logPath,
      logTail: result.logTail,
    });
    return "failed";
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}
