import os from "node:os";
import path from "node:path";
import { NodeWorkerPool } from "./node-worker-pool.js";
import { stopPrestartedWorkers } from "./prestart-workers.js";
import { PythonWorkerPool } from "./python-worker-pool.js";

/** Sizes of the warm worker pools. */
export interface WorkerOptions {
  /** Most workers per pool (TS/JS, Python); default os.availableParallelism(). */
  concurrency?: number;
}

/**
 * The warm workers function tasks run in: TS/JS workers per project root (their relative paths
 * resolve against it; see {@link NodeWorkerPool}) and Python worker processes (each call enters
 * its own root). A project owns one set (see `openProject`), created on first use and stopped by
 * {@link WorkerPools.shutdown}, so two projects in one process never share a worker.
 *
 * A TS/JS worker imports a module once and keeps it (Node caches ES modules for good), so TS/JS
 * workers live for the runs that use them ({@link WorkerPools.beginRun}): the next run, after an
 * edit, imports the module afresh. Python workers reload edited code themselves and stay.
 */
export class WorkerPools {
  private size: number;
  private readonly nodePools = new Map<string, NodeWorkerPool>();
  private pythonPool: PythonWorkerPool | undefined;
  private runs = 0;
  /** TS/JS pools being stopped after the last run that used them. */
  private readonly stopping = new Set<Promise<unknown>>();

  constructor(options: WorkerOptions = {}) {
    this.size = sizeOf(options) ?? os.availableParallelism();
  }

  /** Sets the pools' size; pools already running follow (idle workers beyond it are stopped). */
  configure(options: WorkerOptions): void {
    const size = sizeOf(options);
    if (size === undefined) return;
    this.size = size;
    for (const pool of this.nodePools.values()) pool.resize(size);
    this.pythonPool?.resize(size);
  }

  /** The TS/JS workers of the project at `root`, started on first use. */
  node(root: string): NodeWorkerPool {
    const key = path.resolve(root);
    let pool = this.nodePools.get(key);
    if (pool === undefined) {
      pool = new NodeWorkerPool(this.size, { cwd: key });
      this.nodePools.set(key, pool);
    }
    return pool;
  }

  /**
   * Marks the start of a run; the returned function marks its end. When the last run ends, the
   * TS/JS workers are stopped (in the background; {@link shutdown} waits for them).
   */
  beginRun(): () => void {
    this.runs++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.runs--;
      if (this.runs === 0) this.stopNodeWorkers();
    };
  }

  private stopNodeWorkers(): void {
    const nodes = [...this.nodePools.values()];
    this.nodePools.clear();
    if (nodes.length === 0) return;
    const stopped = Promise.all(nodes.map((p) => p.shutdown()));
    this.stopping.add(stopped);
    const done = () => this.stopping.delete(stopped);
    stopped.then(done, done);
  }

  /** The warm Python worker processes, started on first use. */
  python(): PythonWorkerPool {
    this.pythonPool ??= new PythonWorkerPool(this.size);
    return this.pythonPool;
  }

  /**
   * Stops every worker (and any TS/JS thread started ahead that no pool took); running calls end
   * as cancelled. Safe to call any time; the next call starts new workers.
   */
  async shutdown(): Promise<void> {
    const nodes = [...this.nodePools.values()];
    const python = this.pythonPool;
    this.nodePools.clear();
    this.pythonPool = undefined;
    await Promise.all([
      ...nodes.map((p) => p.shutdown()),
      ...this.stopping,
      python?.shutdown(),
      stopPrestartedWorkers(),
    ]);
  }
}

/** The pools a launch uses: its project's, else {@link directLaunchPools}. */
export function poolsOf(req: { pools?: WorkerPools | undefined }): WorkerPools {
  return req.pools ?? directLaunchPools;
}

function sizeOf(options: WorkerOptions): number | undefined {
  const n = options.concurrency;
  return n === undefined ? undefined : Math.max(1, Math.floor(n));
}

/**
 * The pools of callers that launch tasks directly (`launchTask` without `pools`), not through a
 * project: tests and embedders of the launcher alone.
 */
export const directLaunchPools = new WorkerPools();

/** Sets the size of {@link directLaunchPools}. */
export function configureWorkers(options: WorkerOptions): void {
  directLaunchPools.configure(options);
}

/** Stops the workers of {@link directLaunchPools}. */
export function shutdownWorkers(): Promise<void> {
  return directLaunchPools.shutdown();
}
