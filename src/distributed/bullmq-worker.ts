import { realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Job, Worker } from "bullmq";
import {
  CANCEL_CHANNEL,
  connectRedis,
  loadBullmq,
  QUEUE_PREFIX,
  type RedisClient,
} from "../exec/bullmq-connection.js";
import type { TaskJobData, TaskJobProgressBatch, TaskJobResult } from "../exec/bullmq-job.js";
import type { RunCounts, RunEvent, RunObserver } from "../exec/run-events.js";
import { FsReads } from "../fingerprint/fs-reads.js";
import { openProject } from "../session/open-project.js";
import { DagwrightError } from "../spec/errors.js";
import { runTaskUnit } from "./run-task-unit.js";
import { type OpenedProject, type ProjectOpener, WorkerProjects } from "./worker-projects.js";

/** How {@link startWorkers} takes jobs. */
export interface WorkerOptions {
  redis: string;
  /** Queues to take jobs from (a `machine_type`, or `dagwright` for the others). */
  queues: readonly string[];
  /** Jobs at once, per queue. */
  concurrency: number;
  /** The project root here; default: the root each job names (a disk shared with the coordinator). */
  root?: string;
  /** The environment projects read (`DAGWRIGHT_STATE_URL`, `DAGWRIGHT_ARTIFACTS_URL`, ...). */
  env: NodeJS.ProcessEnv;
  /** A line per job started and ended, and connection trouble. */
  notice: (line: string) => void;
  /**
   * Opens a job's project (`specFile` relative to `root`) in `env`; default {@link openProject}.
   * Opened projects are kept across jobs while their spec's reads hold ({@link WorkerProjects}).
   * The CLI's goes through its spec cache, so a new worker does not parse and check the whole spec.
   */
  open?: ProjectOpener;
  /** BullMQ's lock on a running job; a job whose worker died is redelivered after it (default 30 s). */
  lockDurationMs?: number;
  /** How often workers look for such jobs (default 30 s). */
  stalledIntervalMs?: number;
}

/** Workers taking jobs; see {@link startWorkers}. */
export interface RunningWorkers {
  /**
   * Takes no new jobs, lets the running ones finish (until {@link stopNow}), closes the projects
   * kept open, and disconnects. Never waits for an unreachable Redis.
   */
  close(): Promise<void>;
  /**
   * Cancels every running job (its task's process group is stopped, recorded cancelled) and ends
   * a {@link close} waiting for them.
   */
  stopNow(): void;
  readonly name: string;
}

/**
 * Takes task jobs from the queues and runs each through {@link runTaskUnit}, the same code path
 * as `dagwright run-task`: the job's task is decided, run with its `retries` (the contract's
 * retries with backoff; BullMQ makes one attempt per job, so retries never multiply) and
 * `timeout` (the process group is killed), verified and recorded in the state store. The
 * worker's events go to the coordinator as job progress. A coordinator's cancel request stops
 * the job's task.
 *
 * @throws DagwrightError `E_ENV` when bullmq or ioredis are not installed.
 */
export async function startWorkers(options: WorkerOptions): Promise<RunningWorkers> {
  const { Worker } = loadBullmq();
  const name = `${os.hostname()}:${process.pid}`;
  // BullMQ leaves connections it was handed open: they are closed with the workers.
  const clients: RedisClient[] = [];
  const connect = () => {
    const client = connectRedis(options.redis);
    client.on("error", () => {});
    clients.push(client);
    return client;
  };
  const projects = new WorkerProjects(options.open ?? openPlainProject);
  const active = new ActiveJobs();
  const workers: Worker[] = options.queues.map(
    (queue) =>
      new Worker(
        queue,
        (job, _token, signal) => active.track(runJob(options, projects, name, job, signal)),
        {
          connection: connect(),
          prefix: QUEUE_PREFIX,
          concurrency: options.concurrency,
          name,
          ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs } : {}),
          ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
        },
      ),
  );
  for (const w of workers)
    w.on("error", (err) => options.notice(`worker: Redis: ${(err as Error).message}`));
  const cancels = connect();
  cancels.on("message", (_channel, jobId) => {
    for (const w of workers) w.cancelJob(jobId, "cancelled by the coordinator");
  });
  await cancels.subscribe(CANCEL_CHANNEL);
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  return {
    name,
    stopNow: () => {
      for (const w of workers) w.cancelAllJobs("worker stopping");
      active.stopWaiting();
    },
    close: async () => {
      // BullMQ's own graceful close (and pause) wait for Redis without end when it is gone, so
      // the running jobs are awaited here and BullMQ is only asked to wait when Redis answers.
      await Promise.all(workers.map((w) => w.pause(true)));
      await active.settled();
      const reachable = clients.every((c) => c.status === "ready");
      await Promise.all(workers.map((w) => w.close(!reachable)));
      await projects.closeAll();
      for (const client of clients) client.disconnect();
    },
  };
}

/** {@link openProject} with the reads of its spec load recorded. */
async function openPlainProject(
  root: string,
  specFile: string,
  env: NodeJS.ProcessEnv,
): Promise<OpenedProject> {
  const reads = new FsReads();
  const project = await openProject(root, { file: specFile, env, reads });
  return { project, loadReads: reads.reads() };
}

async function runJob(
  options: WorkerOptions,
  projects: WorkerProjects,
  worker: string,
  job: Job,
  signal: AbortSignal | undefined,
): Promise<TaskJobResult> {
  const data = job.data as TaskJobData;
  const what = data.keys ? `${data.task} [${data.keys.length} items]` : data.task;
  options.notice(`${what}: started (run ${data.runId}, job ${job.id})`);
  // The coordinator's branch, whatever this machine's checkout says: one run, one namespace.
  const env = { ...options.env, DAGWRIGHT_BRANCH: data.branch };
  const root = options.root ?? data.root;
  // The coordinator's copy of the task's log is then made from the lines streamed to it.
  const remoteLog = !sameDir(root, data.root) || Boolean(options.env.DAGWRIGHT_ARTIFACTS_URL);
  const lease = await projects.acquire(root, data.specFile, env);
  const { project } = lease;
  try {
    const scope = await project.scope(
      { graph: data.graph, only: [data.task], set: data.set },
      "copy",
    );
    if (scope.namespace !== data.namespace)
      throw new DagwrightError(
        "E_ENV",
        `this worker's state namespace is ${scope.namespace}, the coordinator's ${data.namespace}`,
        {
          hint: "start the worker with the coordinator's DAGWRIGHT_BRANCH and DAGWRIGHT_STATE_URL",
        },
      );
    const progress = new ProgressSender(job, worker, remoteLog);
    const observer: RunObserver = (event) => {
      // Only what the coordinator uses (each update a Redis call, awaited before the job ends):
      // not this unit's own run bounds, and of a bundle only its log lines (bullmq-mapped.ts
      // folds the bundles into one start and one outcome of its own).
      if (event.type === "run-start" || event.type === "run-end") return;
      if (data.keys && event.type !== "log") return;
      progress.send(event);
    };
    const result = await runTaskUnit(project, scope, {
      observer,
      command: `dagwright worker (job ${job.id})`,
      force: data.force,
      singleAttempt: false,
      jobs: os.availableParallelism(),
      streamLogs: data.streamLogs || remoteLog,
      ...(data.keys ? { keys: data.keys, recordWhole: false } : {}),
      ...(signal ? { signal } : {}),
    });
    await progress.flush();
    const outcome = outcomeOf(result.counts);
    options.notice(`${what}: ${outcome} (job ${job.id})`);
    return { outcome, worker };
  } finally {
    await lease.release();
  }
}

/** The one task's outcome, from its unit run's counts. */
function outcomeOf(counts: RunCounts): TaskJobResult["outcome"] {
  if (counts.done > 0) return "done";
  if (counts.fresh > 0) return "fresh";
  if (counts.cancelled > 0) return "cancelled";
  if (counts.failed > 0) return "failed";
  return "skipped";
}

/** The jobs a worker is running, so that stopping can wait for them without asking Redis. */
class ActiveJobs {
  private readonly running = new Set<Promise<unknown>>();
  private stopRequested = false;
  private stop: (() => void) | undefined;
  private readonly stopped = new Promise<void>((resolve) => {
    this.stop = resolve;
  });

  track<T>(job: Promise<T>): Promise<T> {
    this.running.add(job);
    const done = () => this.running.delete(job);
    job.then(done, done);
    return job;
  }

  /** Resolves once no job runs, or at {@link stopWaiting}. */
  async settled(): Promise<void> {
    while (this.running.size > 0 && !this.stopRequested)
      await Promise.race([Promise.allSettled([...this.running]), this.stopped]);
  }

  stopWaiting(): void {
    this.stopRequested = true;
    this.stop?.();
  }
}

/** Log lines wait this long for more to share their progress update. */
const LOG_BATCH_MS = 50;
/** … or until this many are waiting. */
const LOG_BATCH_LINES = 1000;

/**
 * A job's events to the coordinator as job progress, in order: log lines in batches (a task
 * printing 100,000 lines must not cost 100,000 Redis calls before its job can end), anything else
 * at once with the lines before it. Updates are chained, so the coordinator sees them in order and
 * before the job's completion.
 */
class ProgressSender {
  private pending: RunEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sent: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly job: Job,
    private readonly worker: string,
    private readonly remoteLog: boolean,
  ) {}

  send(event: RunEvent): void {
    this.pending.push(event);
    if (event.type !== "log" || this.pending.length >= LOG_BATCH_LINES) this.post();
    else this.timer ??= setTimeout(() => this.post(), LOG_BATCH_MS);
  }

  /** Sends what waits; resolves once every update was written. */
  async flush(): Promise<void> {
    this.post();
    await this.sent;
  }

  private post(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch: TaskJobProgressBatch = {
      events: this.pending,
      worker: this.worker,
      ...(this.remoteLog ? { remoteLog: true } : {}),
    };
    this.pending = [];
    this.sent = this.sent.then(() => this.job.updateProgress(batch)).catch(() => {});
  }
}

/** Whether two paths name one directory (a symlinked or differently spelled shared disk). */
function sameDir(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}
