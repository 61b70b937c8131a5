import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { NODE_WORKER_URL, PROGRESS_BYTES, takePrestartedWorker } from "./prestart-workers.js";
import { type PoolWorker, ProcessWorker } from "./process-worker.js";

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

/**
 * One call of an exported function for each item of a bundle, in order, in one worker. Item `i`
 * receives `{ ...base.deps, ...values, ...base, item: values }`; its console output is preceded
 * in the log by `# item KEY` (only when it writes any).
 */
export interface WorkerBatchJob extends Omit<WorkerJob, "input" | "timeoutMs"> {
  /** What every item shares: deps, args, config, pipelineConfig (structured-cloned once). */
  base: { deps: Record<string, unknown> } & Record<string, unknown>;
  items: ReadonlyArray<{ key: string; values: Record<string, unknown> }>;
  /**
   * Per item, from that item's start (the first one's includes importing the module). With a
   * timeout, the worker sends each item's reply at once instead of in chunks, so terminating it
   * loses no finished item's reply.
   */
  timeoutMs?: number;
}

/** One item's reply; `result` is JSON-serializable (checked in the worker). */
export interface BatchItemReply {
  ok: boolean;
  result?: unknown;
  error?: string;
  ms: number;
}

/**
 * How a batch ended. `items` holds the replies of the first `items.length` items, in order.
 * - `returned`: every item replied. `threw`: the call failed before any item ran (`error`: the
 *   module or function could not be loaded).
 * - `crashed`: the worker thread died (`error`: "worker crashed (exit code 1)");
 *   `timeout`/`cancelled`: it was terminated. `inFlight` is the index of the item that was running;
 *   items between the last reply and `inFlight` ran but their replies were lost with the worker.
 */
export interface WorkerBatchOutcome {
  ended: "returned" | "threw" | "crashed" | "timeout" | "cancelled";
  items: BatchItemReply[];
  error?: string;
  inFlight?: number;
  /** How long the unfinished item had been running, when known. */
  inFlightMs?: number;
}

/** A module workers import ahead of its first call (see {@link NodeWorkerPool.prewarm}). */
export interface PreloadModule {
  url: string;
  /** Its compile-cache file, checked current by the caller. */
  compiled?: string;
  /** Set over the worker's env while the module is imported (its top level may read it). */
  env?: Record<string, string>;
}

/** One task of {@link NodeWorkerPool.runTasks}: a call like {@link WorkerJob}, without a timeout. */
export type WorkerTask = Omit<WorkerJob, "timeoutMs" | "signal">;

/** How one task of {@link NodeWorkerPool.runTasks} ended. */
export interface WorkerTaskOutcome extends WorkerOutcome {
  /** Time in the worker, from the task's start (the first call of a module includes importing it). */
  ms?: number;
  /** Time in the function call alone. */
  callMs?: number;
}

/** A runTasks call as the pool runs it: `job` stands for the whole message. */
interface TasksRun {
  tasks: readonly WorkerTask[];
  onResult: (index: number, outcome: WorkerTaskOutcome) => void;
  /** How many tasks (from the start) have their outcome. */
  reported: number;
}

interface Slot {
  worker: PoolWorker;
  /** Module URLs this worker has imported, to send a job where its module is warm. */
  warm: Set<string>;
  job?: Running;
  /** Shared with the worker: [call id, index of the running item] … */
  progress: Int32Array;
  /** … and that item's start (Date.now()) … */
  itemStart: Float64Array;
  /** … and how much console output (string length) was sent but not yet handed to `onLog`. */
  logPending: Int32Array;
}

type Ended = {
  ended: "returned" | "threw" | "crashed" | "timeout" | "cancelled";
  result?: unknown;
  error?: string;
  items?: BatchItemReply[];
};

interface Running {
  id: number;
  job: WorkerJob | WorkerBatchJob;
  /** A runTasks call: its tasks and where their outcomes go. */
  tasks?: TasksRun;
  /** Batch jobs: the replies so far. */
  items?: BatchItemReply[];
  settle: (end: Ended, slot?: Slot) => void;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

interface TaskReply extends BatchItemReply {
  callMs: number;
}

interface Message {
  type: "log" | "done" | "items" | "tasks";
  text?: string;
  /** tasks: the index of the task a log message belongs to. */
  task?: number;
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
  items?: BatchItemReply[];
}

function taskOutcome(reply: BatchItemReply | TaskReply): WorkerTaskOutcome {
  const out: WorkerTaskOutcome = reply.ok
    ? { ended: "returned", ms: reply.ms }
    : { ended: "threw", error: reply.error ?? "unknown error", ms: reply.ms };
  if (reply.result !== undefined) out.result = reply.result;
  if ((reply as TaskReply).callMs !== undefined) out.callMs = (reply as TaskReply).callMs;
  return out;
}

/**
 * The `tasks` message: what tasks share is sent once. `url`, `display` and `fn` are left out
 * when equal to the previous task's, and each env is sent as its difference from the first
 * task's env (`env`: keys set or changed, `unset`: keys to drop); the worker rebuilds them.
 */
function tasksMessage(id: number, tasks: readonly WorkerTask[]): Record<string, unknown> {
  const base = tasks[0]!.env;
  const baseKeys = Object.keys(base);
  let prev: WorkerTask | undefined;
  const out = tasks.map((t) => {
    const m: Record<string, unknown> = { task: t.task, input: t.input };
    if (prev === undefined || t.url !== prev.url) m.url = t.url;
    if (prev === undefined || t.display !== prev.display) m.display = t.display;
    if (prev === undefined || t.fn !== prev.fn) m.fn = t.fn;
    prev = t;
    if (t.env !== base) {
      let changed: Record<string, string> | undefined;
      let unset: string[] | undefined;
      for (const k in t.env) {
        if (base[k] !== t.env[k] || !Object.hasOwn(base, k)) {
          changed ??= {};
          changed[k] = t.env[k]!;
        }
      }
      for (const k of baseKeys) {
        if (Object.hasOwn(t.env, k)) continue;
        unset ??= [];
        unset.push(k);
      }
      if (changed !== undefined) m.env = changed;
      if (unset !== undefined) m.unset = unset;
    }
    return m;
  });
  return { type: "tasks", id, env: base, tasks: out };
}

function isBatch(job: WorkerJob | WorkerBatchJob): job is WorkerBatchJob {
  return "items" in job;
}

/**
 * Runs exported TS/JS functions in reusable worker threads (runtime/node-task-worker.mjs). A
 * worker imports each module once and keeps it, so repeated calls pay only a message round trip;
 * a job goes to an idle worker that already imported its module when there is one. The pool grows
 * on demand up to `size` workers and queues beyond that. An idle worker is unref'd, so an idle
 * pool never keeps the process alive. A timeout or cancel terminates the job's worker (the only
 * way to stop running JS) and drops it from the pool.
 *
 * A task's relative paths resolve against `cwd`, its project root. Worker threads share this
 * process's working directory and cannot have their own, so when `cwd` is not it the workers are
 * child processes started there instead (runtime/node-task-worker.mjs speaks the same protocol
 * over IPC; see process-worker.ts). Modules stay cached until {@link NodeWorkerPool.shutdown}; a
 * long-lived process that must see edited code shuts the pool down between runs.
 */
export class NodeWorkerPool {
  private size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Running[] = [];
  private nextId = 1;
  /** Modules every new worker imports first (see {@link prewarm}). */
  private preload: PreloadModule[] = [];

  /** Workers are child processes started in `cwd` when it is not this process's directory. */
  private readonly inProcesses: string | undefined;

  constructor(size = os.availableParallelism(), options: { cwd?: string } = {}) {
    this.size = Math.max(1, size);
    const { cwd } = options;
    this.inProcesses = cwd !== undefined && path.resolve(cwd) !== process.cwd() ? cwd : undefined;
  }

  /** Changes the most workers kept; idle workers beyond it are terminated. */
  resize(size: number): void {
    this.size = Math.max(1, size);
    const idle = this.slots.filter((s) => s.job === undefined);
    for (const slot of idle.slice(0, Math.max(0, this.slots.length - this.size))) {
      this.drop(slot);
      void slot.worker.terminate();
    }
  }

  /** Runs one job. Never rejects: failures are outcomes. */
  run(job: WorkerJob): Promise<WorkerOutcome> {
    if (job.signal?.aborted) return Promise.resolve({ ended: "cancelled" });
    return new Promise((resolve) => {
      this.submit({
        id: this.nextId++,
        job,
        settle: (end) => {
          // A single job knows no crash: a dead worker is a throw, as it always was.
          const out: WorkerOutcome = { ended: end.ended === "crashed" ? "threw" : end.ended };
          if (end.result !== undefined) out.result = end.result;
          if (end.error !== undefined) out.error = end.error;
          resolve(out);
        },
      });
    });
  }

  /** Runs the function for each item of a bundle in one worker. Never rejects. */
  runBatch(job: WorkerBatchJob): Promise<WorkerBatchOutcome> {
    if (job.signal?.aborted) return Promise.resolve({ ended: "cancelled", items: [] });
    return new Promise((resolve) => {
      const running: Running = {
        id: this.nextId++,
        job,
        items: [],
        settle: (end, slot) => {
          const items = running.items ?? [];
          if (end.items !== undefined) items.push(...end.items);
          const out: WorkerBatchOutcome = { ended: end.ended, items };
          if (end.error !== undefined) out.error = end.error;
          if (end.ended !== "returned" && end.ended !== "threw" && slot !== undefined) {
            const started = Atomics.load(slot.progress, 0) === running.id;
            out.inFlight = started ? Atomics.load(slot.progress, 1) : 0;
            if (started) out.inFlightMs = Math.max(0, Date.now() - slot.itemStart[0]!);
          }
          resolve(out);
        },
      };
      this.submit(running);
    });
  }

  /**
   * Runs several tasks in one worker, one after another, with one message each way (plus one
   * per FLUSH_MS of running, and before waiting on a task that returned a promise): the way to
   * run many short tasks without paying a round trip each. `onResult` receives each task's
   * outcome as it arrives, in order; the promise resolves once every task has one. Never rejects.
   * If the worker dies, the task that was running ends as a throw (like {@link run}) and the
   * others without an outcome run again on a new worker; `signal` cancels every task still
   * without one (terminating the worker).
   */
  runTasks(
    tasks: readonly WorkerTask[],
    onResult: (index: number, outcome: WorkerTaskOutcome) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    if (tasks.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const submitFrom = (from: number) => {
        const part = tasks.slice(from);
        const sub: TasksRun = {
          tasks: part,
          reported: 0,
          onResult: (i, out) => onResult(from + i, out),
        };
        const first = part[0]!;
        const job: WorkerJob = {
          task: first.task,
          url: first.url,
          display: first.display,
          fn: first.fn,
          input: {},
          env: {},
          onLog: () => {},
          ...(signal !== undefined ? { signal } : {}),
        };
        if (signal?.aborted) {
          for (let i = 0; i < part.length; i++) sub.onResult(i, { ended: "cancelled" });
          resolve();
          return;
        }
        const running: Running = {
          id: this.nextId++,
          job,
          tasks: sub,
          settle: (end, slot) => {
            // Every task without an outcome: the running one and the rest of the message.
            const left = sub.reported;
            if (left >= part.length) {
              resolve();
              return;
            }
            if (end.ended === "cancelled" || end.ended === "timeout") {
              for (let i = left; i < part.length; i++) sub.onResult(i, { ended: "cancelled" });
              resolve();
              return;
            }
            if (end.ended === "crashed" || end.ended === "threw") {
              // The worker died (or never replied for these): the task it was running fails, as
              // a single call would; the others (finished or not started) run again.
              const started = slot !== undefined && Atomics.load(slot.progress, 0) === running.id;
              const at = started ? Math.max(left, Atomics.load(slot.progress, 1)) : left;
              const error = end.error ?? "worker crashed";
              sub.onResult(at, { ended: "threw", error });
              sub.reported = at + 1;
              // Tasks before `at` that ran but whose replies were lost run again too.
              if (at > left) {
                const lost = part.slice(left, at);
                void this.runTasks(lost, (i, out) => sub.onResult(left + i, out), signal).then(
                  () => {
                    if (at + 1 < part.length) submitFrom(from + at + 1);
                    else resolve();
                  },
                );
                return;
              }
              if (at + 1 < part.length) submitFrom(from + at + 1);
              else resolve();
              return;
            }
            // "returned" without every reply: the worker failed internally.
            for (let i = left; i < part.length; i++)
              sub.onResult(i, { ended: "threw", error: "the worker sent no reply for this task" });
            resolve();
          },
        };
        this.submit(running);
      };
      submitFrom(0);
    });
  }

  /**
   * Starts up to `workers` workers now (the pool's size at most), each importing `modules` as
   * its first job, so worker start-up and imports overlap the caller's planning. A module's
   * `compiled` is its compile-cache file when the caller checked it is current (the worker then
   * imports that file without loading the compiler); its `env` is set while it is imported, as
   * the first task's env would have been. Workers started later import them too; a later call
   * with modules replaces the list.
   */
  prewarm(workers: number, modules: readonly PreloadModule[] = []): void {
    if (modules.length > 0) this.preload = [...modules];
    for (const slot of this.slots) {
      const todo = this.preload.filter((p) => !slot.warm.has(p.url));
      if (todo.length === 0) continue;
      slot.worker.postMessage({ type: "load", modules: todo });
      for (const p of todo) slot.warm.add(p.url);
    }
    const want = Math.min(this.size, Math.max(0, workers));
    while (this.slots.length < want) this.spawn().worker.unref();
  }

  private submit(running: Running): void {
    const { job } = running;
    const slot = this.pickSlot(job.url);
    if (slot === undefined) {
      running.onAbort = () => {
        const i = this.queue.indexOf(running);
        if (i >= 0) this.queue.splice(i, 1);
        running.settle({ ended: "cancelled" });
      };
      job.signal?.addEventListener("abort", running.onAbort, { once: true });
      this.queue.push(running);
    } else {
      this.start(slot, running);
    }
  }

  /** Terminates every worker; running and queued jobs end as cancelled. */
  async shutdown(): Promise<void> {
    for (const running of this.queue.splice(0)) {
      this.release(running);
      running.settle({ ended: "cancelled", error: "the worker pool was shut down" });
    }
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map((slot) => {
        if (slot.job !== undefined) this.finish(slot, { ended: "cancelled" }, false);
        return slot.worker.terminate();
      }),
    );
  }

  /** Whether a started worker is free now (a job sent now would not wait for a new worker). */
  hasIdleWorker(): boolean {
    return this.slots.some((s) => s.job === undefined);
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
    const preload = [...this.preload];
    const { worker, shared, loaded } = this.startWorker(preload);
    if (!loaded && preload.length > 0) worker.postMessage({ type: "load", modules: preload });
    const slot: Slot = {
      worker,
      warm: new Set(preload.map((p) => p.url)),
      progress: new Int32Array(shared, 0, 2),
      itemStart: new Float64Array(shared, 8, 1),
      logPending: new Int32Array(shared, 16, 1),
    };
    worker.on("message", (msg: Message) => {
      const running = slot.job;
      if (msg.type === "log") {
        if (running?.tasks !== undefined) {
          const t = running.tasks.tasks[msg.task ?? running.tasks.reported];
          t?.onLog(msg.text ?? "");
        } else running?.job.onLog(msg.text ?? "");
        // Written (onLog writes synchronously): a task waiting to print more may go on.
        Atomics.sub(slot.logPending, 0, msg.text?.length ?? 0);
        Atomics.notify(slot.logPending, 0);
        return;
      }
      if (running === undefined) return;
      if (msg.id !== running.id) {
        return;
      } else if (running.tasks !== undefined) {
        const run = running.tasks;
        for (const reply of msg.items ?? []) {
          if (run.reported >= run.tasks.length) break;
          run.onResult(run.reported++, taskOutcome(reply));
        }
        if (msg.type === "done") {
          slot.warm.add(running.job.url);
          this.finish(slot, { ended: "returned" }, true);
        }
      } else if (msg.type === "items") {
        running.items?.push(...(msg.items ?? []));
      } else {
        slot.warm.add(running.job.url);
        const end: Ended = msg.ok
          ? { ended: "returned", result: msg.result }
          : { ended: "threw", error: msg.error ?? "unknown error" };
        if (msg.items !== undefined) end.items = msg.items;
        this.finish(slot, end, true);
      }
    });
    worker.on("error", (err) => {
      this.drop(slot);
      const running = slot.job;
      if (running !== undefined) {
        if (running.tasks !== undefined) {
          const t = running.tasks.tasks[running.tasks.reported];
          t?.onLog(`${err.stack ?? err.message}\n`);
        } else running.job.onLog(`${err.stack ?? err.message}\n`);
        this.finish(
          slot,
          running.tasks !== undefined
            ? { ended: "crashed", error: `${err.name}: ${err.message}` }
            : isBatch(running.job)
              ? { ended: "crashed", error: `worker crashed (${err.name}: ${err.message})` }
              : { ended: "threw", error: `${err.name}: ${err.message}` },
          false,
        );
      }
    });
    worker.on("exit", (code) => {
      this.drop(slot);
      const running = slot.job;
      if (running !== undefined) {
        this.finish(
          slot,
          running.tasks !== undefined
            ? { ended: "crashed", error: `worker exited with code ${code}` }
            : isBatch(running.job)
              ? { ended: "crashed", error: `worker crashed (exit code ${code})` }
              : { ended: "threw", error: `worker exited with code ${code}` },
          false,
        );
      }
    });
    this.slots.push(slot);
    return slot;
  }

  /** A new worker; `loaded`: it imports `preload` on its own (a fresh thread is told at start). */
  private startWorker(preload: PreloadModule[]): {
    worker: PoolWorker;
    shared: SharedArrayBuffer;
    loaded: boolean;
  } {
    if (this.inProcesses !== undefined) {
      const shared = new SharedArrayBuffer(PROGRESS_BYTES);
      return { worker: new ProcessWorker(this.inProcesses, shared), shared, loaded: false };
    }
    // A worker started ahead (prestart-workers.ts) is adopted: it has imported nothing yet.
    const pre = takePrestartedWorker();
    if (pre !== undefined) return { worker: pre.worker, shared: pre.progress, loaded: false };
    const shared = new SharedArrayBuffer(PROGRESS_BYTES);
    const worker = new Worker(NODE_WORKER_URL, { workerData: { progress: shared, preload } });
    return { worker, shared, loaded: true };
  }

  private start(slot: Slot, running: Running): void {
    const { job } = running;
    slot.job = running;
    slot.worker.ref();
    if (job.timeoutMs !== undefined) {
      const ms = job.timeoutMs;
      if (isBatch(job)) {
        const posted = Date.now();
        // The worker records which item runs since when; the timer follows the current item.
        const check = () => {
          const started =
            Atomics.load(slot.progress, 0) === running.id ? slot.itemStart[0]! : posted;
          const left = started + ms - Date.now();
          if (left <= 0) this.kill(slot, "timeout");
          else running.timer = setTimeout(check, left);
        };
        running.timer = setTimeout(check, ms);
      } else {
        running.timer = setTimeout(() => this.kill(slot, "timeout"), ms);
      }
    }
    if (job.signal !== undefined) {
      running.onAbort = () => this.kill(slot, "cancelled");
      job.signal.addEventListener("abort", running.onAbort, { once: true });
    }
    const common = {
      id: running.id,
      task: job.task,
      url: job.url,
      display: job.display,
      fn: job.fn,
      env: job.env,
    };
    if (running.tasks !== undefined) {
      slot.worker.postMessage(tasksMessage(running.id, running.tasks.tasks));
      return;
    }
    slot.worker.postMessage(
      isBatch(job)
        ? {
            ...common,
            type: "batch",
            base: job.base,
            items: job.items,
            eager: job.timeoutMs !== undefined,
          }
        : { ...common, input: job.input },
    );
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
  private finish(slot: Slot, end: Ended, reusable: boolean): void {
    const running = slot.job;
    if (running === undefined) return;
    slot.job = undefined;
    this.release(running);
    running.settle(end, slot);
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
