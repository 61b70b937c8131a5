import type { ArtifactStore } from "../artifacts/artifact-store.js";
import { checkRedis, loadBullmq } from "./bullmq-connection.js";
import { BullmqQueues } from "./bullmq-queues.js";
import { BullmqRun } from "./bullmq-run.js";
import type { Executor, RunResult } from "./executor.js";
import { LocalRun } from "./local-run.js";
import type { RunGraphOptions } from "./run-options.js";
import { openRunScope } from "./run-scope.js";

/** Options of the BullMQ executor. */
export interface BullmqExecutorOptions {
  /** `redis://HOST:PORT` (or `rediss://`), the Redis the workers listen on. */
  redis: string;
  /** Lines for a human: a Redis that may evict jobs, a queue without a worker. Default: dropped. */
  notice?: (line: string) => void;
  /** Warn when a queue with jobs of the run has had no worker this long (default 30 s). */
  noWorkerWarningMs?: number;
}

/**
 * The {@link Executor} that runs tasks on `dagwright worker` processes, on any machines, through
 * BullMQ queues in Redis: this process (the coordinator) decides what is ready, queues one job per
 * task that must run (on the queue named after its `machine_type`, else `dagwright`), relays the
 * workers' events and reads each outcome from the state store, which the workers record into
 * through the task-attempt contract, exactly like `run-task`. Workers and coordinator must share
 * the state store (the project's SQLite file on a shared disk, or `DAGWRIGHT_STATE_URL`) and the
 * outputs (a shared disk, or `DAGWRIGHT_ARTIFACTS_URL`, from which the coordinator fetches each
 * task's outputs once its worker recorded them). Workers without the coordinator's disk stream
 * their tasks' log lines, which the coordinator writes into its own copy of each task's log.
 *
 * Delivery is at least once: a job whose worker died is redelivered by BullMQ's stalled-job check,
 * and the store's attempt fencing keeps a superseded attempt from recording. Job ids derive from
 * the namespace, task and fingerprint, so a coordinator run again after a crash adopts the jobs
 * still queued instead of queueing them twice. A dry run queues nothing.
 */
export class BullmqExecutor implements Executor {
  constructor(private readonly options: BullmqExecutorOptions) {}

  /**
   * Checks that Redis answers (and warns when it may evict jobs). The CLI calls it before the run
   * takes the namespace lock, so an unreachable Redis leaves no run behind.
   *
   * @throws DagwrightError `E_ENV` naming the address, or when bullmq/ioredis are not installed.
   */
  async check(): Promise<void> {
    loadBullmq();
    await checkRedis(this.options.redis, this.notice);
  }

  /** See {@link Executor.run}. */
  async run(work: RunGraphOptions): Promise<RunResult> {
    const scope = await openRunScope(work);
    // Nothing runs in a dry run: deciding is the same everywhere, so it needs no Redis.
    if (work.dryRun) return new LocalRun(scope).run();
    const artifacts = await artifactsOf({ ...process.env, ...work.env });
    const queues = new BullmqQueues(
      loadBullmq(),
      this.options.redis,
      this.notice,
      this.options.noWorkerWarningMs ?? 30_000,
    );
    try {
      return await new BullmqRun(scope, queues, artifacts).run();
    } finally {
      await queues.close();
      await artifacts?.close();
    }
  }

  private get notice(): (line: string) => void {
    return this.options.notice ?? (() => {});
  }
}

/** The artifact location the project's environment names (`DAGWRIGHT_ARTIFACTS_URL`), if any. */
async function artifactsOf(env: NodeJS.ProcessEnv): Promise<ArtifactStore | undefined> {
  const url = env.DAGWRIGHT_ARTIFACTS_URL;
  if (url === undefined || url === "") return undefined;
  const { openArtifactStore } = await import("../artifacts/open-artifact-store.js");
  return openArtifactStore(url);
}
