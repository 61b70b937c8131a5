import { newAttemptLogPath, pruneAttemptLogs } from "../tasks/attempt-logs.js";
import { closeTaskLog, openTaskLog, type TaskLog, writeTaskLog } from "../tasks/task-log.js";
import type { RunEvent } from "./run-events.js";

/**
 * The coordinator's copy of the logs of tasks run by workers whose log files are not on its disk
 * (a worker with its own `--root`, or one that shares outputs through an artifact location): each
 * line a worker streams is written into the task's (or item's) log file under the coordinator's
 * log directory, in the layout of src/tasks/attempt-logs.ts, so `dagwright logs TASK` here shows
 * it. One file per attempt of a task (a new `task-start` begins the next), one per item per run
 * for a fan-out. A bundle's lines that are not tagged with their item go to its first item's
 * file, as a local run writes a bundle's log there; its other items get a file saying so (locally
 * their records point at the bundle's file, but here the records point at the worker's disk).
 * Never throws: a log line lost to a full disk must not fail the run.
 */
export class RemoteTaskLogs {
  private readonly open = new Map<string, TaskLog>();

  constructor(
    private readonly logDir: string,
    private readonly keepLogs: number,
  ) {}

  /**
   * Takes a worker's event: a task start begins a new file, a log line is appended. `bundle`:
   * the items of the job the event is from.
   */
  take(event: RunEvent, worker: string, bundle?: readonly string[]): void {
    if (event.type === "task-start") {
      this.end(keyOf(event.task, undefined));
      return;
    }
    if (event.type !== "log") return;
    const { task, item } = event;
    // A bundle's lines not tagged with their item carry its label, `first…last`.
    const label = bundle !== undefined && item !== undefined && !bundle.includes(item);
    const first = label ? bundle[0]! : item;
    const key = keyOf(task, first);
    let log = this.open.get(key);
    if (log === undefined) {
      log = this.openLog(task, first, `on worker ${worker}`);
      if (log === undefined) return;
      this.open.set(key, log);
      if (label) this.pointToBundle(task, bundle, worker);
    }
    writeTaskLog(log, `${event.line}\n`);
  }

  private openLog(task: string, item: string | undefined, what: string): TaskLog | undefined {
    const file = newAttemptLogPath(this.logDir, task, item);
    try {
      pruneAttemptLogs(file, this.keepLogs);
      return openTaskLog(file, task, what);
    } catch {
      return undefined;
    }
  }

  /** A file in each other item's directory naming where the bundle's lines are. */
  private pointToBundle(task: string, bundle: readonly string[], worker: string): void {
    const first = bundle[0]!;
    for (const item of bundle.slice(1)) {
      if (this.open.has(keyOf(task, item))) continue;
      const log = this.openLog(
        task,
        item,
        `on worker ${worker}, in the bundle of ${bundle.length} items that ${first} starts`,
      );
      if (log === undefined) continue;
      writeTaskLog(
        log,
        `# this item's output is in its bundle's log: dagwright logs ${task} --item ${first}\n`,
      );
      closeTaskLog(log);
    }
  }

  /** The file the lines of the task's current attempt go to, once one came. */
  pathOf(task: string): string | undefined {
    return this.open.get(keyOf(task, undefined))?.path;
  }

  /** Closes the files of a job that ended: the task's, or those of the items of its bundle. */
  endJob(task: string, items?: readonly string[]): void {
    if (items === undefined) this.end(keyOf(task, undefined));
    else for (const item of items) this.end(keyOf(task, item));
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
