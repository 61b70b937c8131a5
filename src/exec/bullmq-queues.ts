import type { ConnectionOptions, Job, Queue, QueueEvents } from "bullmq";
import {
  type BullMQ,
  CANCEL_CHANNEL,
  connectRedis,
  QUEUE_PREFIX,
  type RedisClient,
} from "./bullmq-connection.js";
import type {
  TaskJobData,
  TaskJobProgress,
  TaskJobProgressBatch,
  TaskJobResult,
} from "./bullmq-job.js";

/** How a submitted job ended, as the queue saw it. */
export type JobEnd =
  | { kind: "completed"; result: TaskJobResult }
  | { kind: "failed"; reason: string }
  /** Taken off the queue before any worker started it (the run was cancelled). */
  | { kind: "removed" };

interface Waiter {
  queue: string;
  resolve: (end: JobEnd) => void;
  onProgress: (p: TaskJobProgress) => void;
}

interface Open {
  queue: Queue;
  events: QueueEvents;
  /** Since when this queue has had jobs of ours waiting and no worker (epoch ms). */
  idleSince?: number;
  warned: boolean;
}

/**
 * A coordinator's side of the queues for one run: submits jobs under deterministic ids (adopting
 * one its predecessor left queued or running), streams their progress and completion, cancels
 * them, and warns when a queue with jobs of ours has had no worker for `noWorkerMs`.
 */
export class BullmqQueues {
  private readonly open = new Map<string, Open>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly watchdog: NodeJS.Timeout;
  private cancelClient: RedisClient | undefined;
  /** BullMQ leaves connections it was handed open: they are closed here. */
  private readonly clients: RedisClient[] = [];

  constructor(
    private readonly bull: BullMQ,
    private readonly url: string,
    private readonly notice: (line: string) => void,
    private readonly noWorkerMs: number,
  ) {
    this.watchdog = setInterval(() => void this.checkWorkers(), Math.min(noWorkerMs, 1000));
    this.watchdog.unref();
  }

  /**
   * Queues `data` under `id` on `queueName` (or adopts the job already there under that id, unless
   * it already ended) and resolves when it ends; `onProgress` gets the worker's events meanwhile.
   */
  async submit(
    queueName: string,
    id: string,
    data: TaskJobData,
    onProgress: (p: TaskJobProgress) => void,
  ): Promise<JobEnd> {
    const { queue } = await this.queueNamed(queueName);
    const ended = new Promise<JobEnd>((resolve) => {
      this.waiters.set(id, { queue: queueName, resolve, onProgress });
    });
    const existing = (await queue.getJob(id)) as Job | undefined;
    const state = existing ? await existing.getState() : undefined;
    if (existing && (state === "completed" || state === "failed")) await existing.remove();
    if (!existing || state === "completed" || state === "failed" || state === "unknown")
      await queue.add(data.task, data, { jobId: id, removeOnComplete: true, removeOnFail: true });
    return ended;
  }

  /**
   * Cancels every job of ours: one still queued is removed (it ends `removed`), one running is
   * asked to stop (its worker cancels the task, which ends `cancelled`).
   */
  async cancel(): Promise<void> {
    for (const [id, waiter] of [...this.waiters]) {
      const { queue } = this.open.get(waiter.queue)!;
      const job = (await queue.getJob(id)) as Job | undefined;
      const state = job ? await job.getState() : "unknown";
      if (state === "active") {
        this.cancelClient ??= this.connect();
        await this.cancelClient.publish(CANCEL_CHANNEL, id);
        continue;
      }
      if (state === "completed" || state === "failed") continue;
      // A job a worker takes between the check and the removal is locked: it runs, and ends.
      const removed = await job?.remove().then(
        () => true,
        () => false,
      );
      if (removed !== false) this.end(id, { kind: "removed" });
    }
  }

  /** Stops watching and closes every connection. */
  async close(): Promise<void> {
    clearInterval(this.watchdog);
    for (const { queue, events } of this.open.values()) {
      await events.close();
      await queue.close();
    }
    for (const client of this.clients) client.disconnect();
  }

  private async queueNamed(name: string): Promise<Open> {
    let open = this.open.get(name);
    if (open) return open;
    const { Queue, QueueEvents } = this.bull;
    const queue = new Queue(name, { connection: this.connect(), prefix: QUEUE_PREFIX });
    const events = new QueueEvents(name, { connection: this.connect(), prefix: QUEUE_PREFIX });
    open = { queue, events, warned: false };
    this.open.set(name, open);
    events.on("progress", ({ jobId, data }) => {
      const waiter = this.waiters.get(jobId);
      if (waiter === undefined) return;
      const { events: sent, worker, remoteLog } = data as TaskJobProgressBatch;
      for (const event of sent ?? [])
        waiter.onProgress({ event, worker, ...(remoteLog ? { remoteLog } : {}) });
    });
    events.on("completed", ({ jobId, returnvalue }) => {
      const result = (
        typeof returnvalue === "string" ? JSON.parse(returnvalue) : returnvalue
      ) as TaskJobResult;
      this.end(jobId, { kind: "completed", result });
    });
    events.on("failed", ({ jobId, failedReason }) => {
      this.end(jobId, { kind: "failed", reason: failedReason });
    });
    await events.waitUntilReady();
    return open;
  }

  private connect(): RedisClient & ConnectionOptions {
    const client = connectRedis(this.url);
    // Errors while Redis restarts are retried by the client; only a lasting one matters.
    client.on("error", () => {});
    this.clients.push(client);
    return client;
  }

  private end(id: string, end: JobEnd): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    this.waiters.delete(id);
    waiter.resolve(end);
  }

  /** Warns once per queue that has had jobs of ours and no worker for `noWorkerMs`. */
  private async checkWorkers(): Promise<void> {
    const busy = new Set([...this.waiters.values()].map((w) => w.queue));
    for (const [name, open] of this.open) {
      if (!busy.has(name) || open.warned) continue;
      const workers = await open.queue.getWorkersCount().catch(() => undefined);
      if (workers === undefined) continue;
      if (workers > 0) {
        open.idleSince = undefined;
        continue;
      }
      open.idleSince ??= Date.now();
      if (Date.now() - open.idleSince < this.noWorkerMs) continue;
      open.warned = true;
      this.notice(
        `warning: queue "${name}" has had no worker for ${this.noWorkerMs / 1000} s; its tasks wait until one starts: dagwright worker --redis ${this.url} --queue ${name}`,
      );
    }
  }
}
