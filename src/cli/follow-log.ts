import type { StateStore } from "../state/state-store.js";
import { attemptLogTime } from "../tasks/attempt-logs.js";
import { LogFollower } from "../tasks/log-follower.js";

/** What {@link followLog} follows: one attempt's log, and how to ask the store whether it ended. */
export interface FollowTarget {
  file: string;
  store: StateStore;
  namespace: string;
  task: string;
  item?: string;
  /** Receives the log's text, from its start, one whole line at a time. */
  write: (text: string) => void;
  /** How often the file and the store are looked at (default 250 ms). */
  intervalMs?: number;
}

/**
 * Prints `file` from its start and keeps printing what is appended until the attempt is recorded
 * as ended (its record in the store is no longer `running`, or a newer attempt of the same task
 * and item began), or until SIGINT. Resolves to "ended" or "interrupted".
 */
export async function followLog(t: FollowTarget): Promise<"ended" | "interrupted"> {
  const interval = t.intervalMs ?? 250;
  const follower = new LogFollower(interval, true);
  const stop = follower.follow(t.file, (line) => t.write(`${line}\n`), { headers: true });
  follower.poll();
  const startedAt = attemptLogTime(t.file)?.getTime() ?? 0;
  let interrupted = false;
  let wake: () => void = () => {};
  const onSigint = () => {
    interrupted = true;
    wake();
  };
  process.on("SIGINT", onSigint);
  try {
    while (!interrupted) {
      const last = await t.store.lastAttempt(t.namespace, t.task, t.item);
      const ended =
        last?.logPath !== undefined &&
        (last.logPath === t.file ? last.status !== "running" : last.startedAt >= startedAt);
      if (ended) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, interval);
      });
    }
  } finally {
    process.off("SIGINT", onSigint);
    stop(); // reads what the attempt wrote last
  }
  return interrupted ? "interrupted" : "ended";
}
