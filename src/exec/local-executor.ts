import type { Executor, RunResult } from "./executor.js";
import { type LaunchFn, LocalRun } from "./local-run.js";
import type { RunGraphOptions } from "./run-options.js";
import { openRunScope } from "./run-scope.js";

/** Options of the local executor. */
export interface LocalExecutorOptions {
  /**
   * Starts one attempt of a task (a process, or a call in a TS/JS worker). Default: the real
   * launchers of tasks/, with the TS/JS lane. A test puts a fake here to drive slots, retries,
   * timeouts and cancellation; fan-out items always use the real item launcher.
   */
  launch?: LaunchFn;
}

/**
 * The {@link Executor} of this process: runs tasks in this process's worker pools and child
 * processes, within `jobs` cpu slots and the machine's memory, with retries, timeouts and
 * cancellation. Holds no state between runs: one instance may run several runs, one after another
 * or at once.
 */
export class LocalExecutor implements Executor {
  constructor(private readonly options: LocalExecutorOptions = {}) {}

  /** See {@link Executor.run}. */
  async run(work: RunGraphOptions): Promise<RunResult> {
    const scope = await openRunScope(work);
    return new LocalRun(scope, this.options.launch).run();
  }
}
