import type { StateStore, TaskProcessKey, TaskProcessRecord } from "../state/state-store.js";
import { processStartMarker, processTableId } from "../tasks/process-marker.js";
import type { ProcessHooks } from "../tasks/run-process.js";

/**
 * How long a process start or end waits to be written with the others of its moment. A fan-out
 * starts and ends hundreds of short processes a second: gathered, each write carries many, and a
 * process that starts and ends within the wait is never written at all.
 */
const DEFAULT_DELAY_MS = 50;

/**
 * Keeps the state store's `task_processes` rows of one runner true: a row for every process its
 * tasks start, gone when the process ends, so that if the runner dies without stopping them (a
 * `kill -9`, the out-of-memory killer) the next run finds them
 * ({@link stopOrphans} in src/exec/orphans.ts).
 *
 * Writes are gathered for `delayMs` (default 50 ms) and written in one call, in order: a process
 * the runner dies within that time of starting is not found later. The start marker is read when
 * the start is written; a pid reused within that time (the whole pid range gone round) would be
 * recorded with the newcomer's marker, and matter only if the runner died before the end too. A failed write never fails a
 * run (the processes just cannot be found after a crash). Only where processes have a start
 * marker (Linux): elsewhere {@link hooks} returns undefined and nothing is recorded.
 */
export class ProcessLedger {
  private readonly host = processTableId();
  private readonly runner: { pid: number; marker: string } | undefined;
  private readonly pendingStarts = new Map<number, TaskProcessRecord>();
  private readonly pendingEnds = new Map<number, TaskProcessKey>();
  /** Processes whose start was handed to the store and whose end was not. */
  private readonly written = new Map<number, TaskProcessKey>();
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: StateStore,
    private readonly namespace: string,
    private readonly delayMs = DEFAULT_DELAY_MS,
  ) {
    const marker = processStartMarker(process.pid);
    if (marker !== undefined) this.runner = { pid: process.pid, marker };
  }

  /** The hooks recording the processes of `task` (and `item`); undefined when none can be. */
  hooks(task: string, item = ""): ProcessHooks | undefined {
    if (this.runner === undefined) return undefined;
    return {
      started: (pid) => this.started(task, item, pid),
      ended: (pid) => this.ended(pid),
    };
  }

  /** Writes what is pending now and settles once every write so far is done. Never rejects. */
  async close(): Promise<void> {
    this.flush();
    await this.writes;
  }

  private started(task: string, item: string, pid: number): void {
    if (this.runner === undefined) return;
    this.pendingStarts.set(pid, {
      namespace: this.namespace,
      task,
      item,
      host: this.host,
      pid,
      pgid: pid,
      startMarker: "",
      runnerPid: this.runner.pid,
      runnerMarker: this.runner.marker,
      since: Date.now(),
    });
    this.schedule();
  }

  private ended(pid: number): void {
    if (this.pendingStarts.delete(pid)) return;
    const key = this.written.get(pid);
    if (key === undefined) return;
    this.written.delete(pid);
    this.pendingEnds.set(pid, key);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingStarts.size === 0 && this.pendingEnds.size === 0) return;
    const started: TaskProcessRecord[] = [];
    // The marker is read only now, for the processes still running: reading /proc/<pid>/stat of
    // a process being started costs ~0.1 ms, and most of a fan-out's have ended by now.
    for (const p of this.pendingStarts.values()) {
      const startMarker = processStartMarker(p.pid);
      if (startMarker === undefined) continue; // ended, its end not yet told
      started.push({ ...p, startMarker });
      this.written.set(p.pid, { host: p.host, pid: p.pid, startMarker });
    }
    const ended = [...this.pendingEnds.values()];
    this.pendingStarts.clear();
    this.pendingEnds.clear();
    if (started.length === 0 && ended.length === 0) return;
    // Chained, so an end is never written before its start.
    this.writes = this.writes
      .then(() => this.store.updateTaskProcesses({ started, ended }))
      .catch(() => {});
  }
}
