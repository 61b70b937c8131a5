import os from "node:os";
import { Worker } from "node:worker_threads";

const WORKER_URL = new URL("../../runtime/node-task-worker.mjs", import.meta.url);

/** One call of an exported TS/JS function in a pooled worker thread. */
export interface WorkerJob {
  task: string;
  /** file: URL of the module. */
  url: string;
  /** The path as written in the spec, for messages. */
  display: string;
  fn: string;
  /** The one argument the function receives (structured-cloned into the worker). */
  input: Record<string, unknown>;
  /** Set over the worker's process.env for the duration of the call. */
  env: Record<string, string>;
  /** Receives the task's console output, in order. */
  onLog: (text: string) => void;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** How a worker call ended; `result` is JSON-serializable (checked in the worker). */
export interface WorkerOutcome {
  ended: "returned" | "threw" | "timeout" | "cancelled";
  result?: unknown;
  error?: string;
}

interface Slot {
  worker: Worker;
  /** Module URLs this worker has imported, to send a job where its module is warm. */
  warm: Set<string>;
  job?: Running;
}

interface Running {
  id: number;
  job: WorkerJob;
  resolve: (outcome: WorkerOutcome) => void;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

interface Message {
  type: "log" | "done";
  text?: string;
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
}

/**
 * Runs exported TS/JS functions in reusable worker threads (runtime/node-task-worker.mjs). A
 * worker imports each module once and keeps it, so repeated calls pay only a message round trip;
 * a job goes to an idle worker that already imported its module when there is one. The pool grows
 * on demand up to `size` workers and queues beyond that. An idle worker is unref'd, so an idle
 * pool never keeps the process alive. A timeout or cancel terminates the job's worker (the only
 * way to stop running JS) and drops it from the pool.
 *
 * Workers share the process's current directory (a worker cannot chdir): callers chdir to the
 * project root first. Modules stay cached until {@link NodeWorkerPool.shutdown}; a long-lived
 * process that must see edited code shuts the pool down between runs.
 */
export class NodeWorkerPool {
  private readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Running[] = [];
  private nextId = 1;

  constructor(size = os.availableParallelism()) {
    this.size = Math.max(1, size);
  }

  /** Runs one job. Never rejects: failures are outcomes. */
  run(job: WorkerJob): Promise<WorkerOutcome> {
    if (job.signal?.aborted) return Promise.resolve({ ended: "cancelled" });
    return new Promise((resolve) => {
      const running: Running = { id: this.nextId++, job, resolve };
      const slot = this.pickSlot(job.url);
      if (slot === undefined) {
        running.onAbort = () => {
          const i = this.queue.indexOf(running);
          if (i >= 0) this.queue.splice(i, 1);
          resolve({ ended: "cancelled" });
        };
        job.signal?.addEventListener("abort", running.onAbort, { once: true });
        this.queue.push(running);
      } else {
        this.start(slot, running);
      }
    });
  }

  /** Terminates every worker; running and queued jobs end as cancelled. */
  async shutdown(): Promise<void> {
    for (const running of this.queue.splice(0)) {
      this.release(running);
      running.resolve({ ended: "cancelled", error: "the worker pool was shut down" });
    }
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map((slot) => {
        if (slot.job !== undefined) this.finish(slot, { ended: "cancelled" }, false);
        return slot.worker.terminate();
      }),
    );
  }

  private pickSlot(url: string): Slot | undefined {
    let idle: Slot | undefined;
    for (const slot of this.slots) {
      if (slot.job !== undefined) continue;
      if (slot.warm.has(url)) return slot;
      idle ??= slot;
    }
    if (idle !== undefined || this.slots.length >= this.size) return idle;
    return this.spawn();
  }

  private spawn(): Slot {
    // Console output is intercepted inside the worker (see the worker file): reading
    // `stdout: true` streams would keep the process alive after unref() on Node 20.
    const worker = new Worker(WORKER_URL);
    const slot: Slot = { worker, warm: new Set() };
    worker.on("message", (msg: Message) => {
      const running = slot.job;
      if (running === undefined) return;
      if (msg.type === "log") {
        running.job.onLog(msg.text ?? "");
      } else if (msg.id === running.id) {
        slot.warm.add(running.job.url);
        this.finish(
          slot,
          msg.ok
            ? { ended: "returned", result: msg.result }
            : { ended: "threw", error: msg.error ?? "unknown error" },
          true,
        );
      }
    });
    worker.on("error", (err) => {
      this.drop(slot);
      if (slot.job !== undefined) {
        slot.job.job.onLog(`${err.stack ?? err.message}\n`);
        this.finish(slot, { ended: "threw", error: `${err.name}: ${err.message}` }, false);
      }
    });
    worker.on("exit", (code) => {
      this.drop(slot);
      if (slot.job !== undefined) {
        this.finish(slot, { ended: "threw", error: `worker exited with code ${code}` }, false);
      }
    });
    this.slots.push(slot);
    return slot;
  }

  private start(slot: Slot, running: Running): void {
    const { job } = running;
    slot.job = running;
    slot.worker.ref();
    if (job.timeoutMs !== undefined) {
      running.timer = setTimeout(() => this.kill(slot, "timeout"), job.timeoutMs);
    }
    if (job.signal !== undefined) {
      running.onAbort = () => this.kill(slot, "cancelled");
      job.signal.addEventListener("abort", running.onAbort, { once: true });
    }
    slot.worker.postMessage({
      id: running.id,
      task: job.task,
      url: job.url,
      display: job.display,
      fn: job.fn,
      input: job.input,
      env: job.env,
    });
  }

  private kill(slot: Slot, ended: "timeout" | "cancelled"): void {
    this.drop(slot);
    this.finish(slot, { ended }, false);
    void slot.worker.terminate();
  }

  private drop(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private release(running: Running): void {
    clearTimeout(running.timer);
    if (running.onAbort !== undefined) {
      running.job.signal?.removeEventListener("abort", running.onAbort);
    }
  }

  // Settles the slot's job; a reusable slot then takes the next queued job or goes idle.
  private finish(slot: Slot, outcome: WorkerOutcome, reusable: boolean): void {
    const running = slot.job;
    if (running === undefined) return;
    slot.job = undefined;
    this.release(running);
    running.resolve(outcome);
    if (reusable) {
      const next = this.takeQueued(slot);
      if (next === undefined) slot.worker.unref();
      else this.start(slot, next);
    } else {
      // The slot is gone; a queued job gets a fresh worker.
      const next = this.queue.shift();
      if (next !== undefined) {
        this.release(next);
        this.start(this.spawn(), next);
      }
    }
  }

  private takeQueued(slot: Slot): Running | undefined {
    if (this.queue.length === 0) return undefined;
    let i = this.queue.findIndex((r) => slot.warm.has(r.job.url));
    if (i < 0) i = 0;
    const [next] = this.queue.splice(i, 1);
    if (next !== undefined) this.release(next);
    return next;
  }
}
