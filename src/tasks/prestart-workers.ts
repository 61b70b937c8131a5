// Starting a TS/JS worker thread takes ~25-40 ms, most of which is on the critical path of a run
// of TS tasks: the first task waits for it. This module is tiny (node:worker_threads only) so the
// CLI's entry point can import it and start a worker before it even loads the CLI bundle; the
// worker pool (node-worker-pool.ts) adopts workers started here instead of starting its own.
// Both sides find each other through a global registry, since the entry point and the bundle are
// separate module graphs.
import { Worker } from "node:worker_threads";

/** The worker script, from dist/tasks/ or dist/bundle/ alike (both two levels below the root). */
export const NODE_WORKER_URL = new URL("../../runtime/node-task-worker.mjs", import.meta.url);

/**
 * Size of the buffer a worker shares with its pool: [call id, item index] (Int32), the item's
 * start (Float64), console output not yet written (Int32), padding.
 */
export const PROGRESS_BYTES = 24;

/** A worker started ahead of its pool, with the buffer it shares with it. */
export interface PrestartedWorker {
  worker: Worker;
  progress: SharedArrayBuffer;
  /** It exited or failed before a pool took it. */
  dead: boolean;
}

const REGISTRY = Symbol.for("dagwright.prestartedNodeWorkers");

function registry(): PrestartedWorker[] {
  const g = globalThis as { [REGISTRY]?: PrestartedWorker[] };
  g[REGISTRY] ??= [];
  return g[REGISTRY];
}

/**
 * Starts `count` TS/JS worker threads now, for the next worker pool of this process to adopt.
 * They are unref'd (an unused one never keeps the process alive) and import nothing until a pool
 * asks them to.
 */
export function prestartNodeWorkerThreads(count = 1): void {
  const list = registry();
  for (let i = list.filter((p) => !p.dead).length; i < count; i++) {
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    const worker = new Worker(NODE_WORKER_URL, { workerData: { progress, preload: [] } });
    worker.unref();
    const entry: PrestartedWorker = { worker, progress, dead: false };
    // Until a pool takes it, a failure only marks it (an unhandled 'error' would throw).
    const onEnd = () => {
      entry.dead = true;
    };
    worker.once("exit", onEnd);
    worker.on("error", onEnd);
    list.push(entry);
  }
}

/** A started worker still alive, handed over to the caller (its listeners removed), if any. */
export function takePrestartedWorker(): PrestartedWorker | undefined {
  const list = registry();
  for (let p = list.shift(); p !== undefined; p = list.shift()) {
    if (p.dead) continue;
    p.worker.removeAllListeners("exit");
    p.worker.removeAllListeners("error");
    return p;
  }
  return undefined;
}

/** Terminates the started workers no pool took. */
export async function stopPrestartedWorkers(): Promise<void> {
  const list = registry().splice(0);
  await Promise.all(list.map((p) => (p.dead ? undefined : p.worker.terminate())));
}
