import os from "node:os";
import { NodeWorkerPool } from "./node-worker-pool.js";
import { stopPrestartedWorkers } from "./prestart-workers.js";
import { PythonWorkerPool } from "./python-worker-pool.js";

/** Sizes of the process-wide warm worker pools. */
export interface WorkerOptions {
  /** Most workers per pool (TS/JS threads, Python processes); default os.availableParallelism(). */
  concurrency?: number;
}

let size = os.availableParallelism();
let nodePool: NodeWorkerPool | undefined;
let pythonPool: PythonWorkerPool | undefined;

/** Sets the pools' size; pools already running follow (idle workers beyond it are stopped). */
export function configureWorkers(options: WorkerOptions): void {
  if (options.concurrency === undefined) return;
  size = Math.max(1, Math.floor(options.concurrency));
  nodePool?.resize(size);
  pythonPool?.resize(size);
}

/** The process-wide pool of TS/JS worker threads, created on first use. */
export function sharedNodePool(): NodeWorkerPool {
  nodePool ??= new NodeWorkerPool(size);
  return nodePool;
}

/** The process-wide pool of warm Python worker processes, created on first use. */
export function sharedPythonPool(): PythonWorkerPool {
  pythonPool ??= new PythonWorkerPool(size);
  return pythonPool;
}

/**
 * Stops the pooled TS/JS worker threads (and any started ahead that no pool took) and Python
 * worker processes; running calls end as cancelled. Safe to call any time; the next call starts
 * new workers.
 */
export async function shutdownWorkers(): Promise<void> {
  const n = nodePool;
  const p = pythonPool;
  nodePool = undefined;
  pythonPool = undefined;
  await Promise.all([n?.shutdown(), p?.shutdown(), stopPrestartedWorkers()]);
}
