import { newAttemptLogPath, pruneAttemptLogs } from "../tasks/attempt-logs.js";
import { closeTaskLog, openTaskLog, type TaskLog, writeTaskLog } from "../tasks/task-log.js";
import type { RunEvent } from "./run-events.js";

/**
 * The coordinator's copy of the logs of tasks run by workers whose log files are not on its disk
 * (a worker with its own `--root`, or one that shares outputs through an artifact location): each
 * line a worker streams is written into the task's (or item's) log file under the coordinator's
 * log directory, in the layout of src/tasks/attempt-logs.ts, so `dagwright logs TASK` here shows
 * it. One file per attempt of a task (a new `task-start` begins the next), one per item per run
 * for a fan-out (a bundle's untagged lines go to its first item's). Never throws: a log line lost
 * to a full disk must not fail the run.
 */
export class RemoteTaskLogs {
  private readonly open = new Map<string, TaskLog>();

  constructor(
    private readonly logDir: string,
    private readonly keepLogs: number,
  ) {}

  /** Takes a worker's event: a task start begins a new file, a log line is appended. */
  take(event: RunEvent, worker: string): void {
    if (event.type === "task-start") {
      this.end(keyOf(event.task, undefined));
      return;
    }
    if (event.type !== "log") return;
    // A bundle's lines not tagged with their item carry its label, `first…last`.
    const item = event.item?.split("…")[0];
    const key = keyOf(event.task, item);
    let log = this.open.get(key);
    if (log === undefined) {
      const file = newAttemptLogPath(this.logDir, event.task, item);
      try {
        pruneAttemptLogs(file, this.keepLogs);
        log = openTaskLog(file, event.task, `on worker ${worker}`);
      } catch {
        return;
      }
      this.open.set(key, log);
    }
    writeTaskLog(log, `${event.line}\n`);
  }

  /** Closes every file. */
  close(): void {
    for (const key of [...this.open.keys()]) this.end(key);
  }

  private end(key: string): void {
    const log = this.open.get(key);
    if (log === undefined) return;
    this.open.delete(key);
    closeTaskLog(log);
  }
}

function keyOf(task: string, item: string | undefined): string {
  return item === undefined ? task : `${task}\0${item}`;
}
