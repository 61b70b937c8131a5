import { createHash } from "node:crypto";
import type { TaskSpec } from "../spec/types.js";
import { DEFAULT_QUEUE } from "./bullmq-connection.js";
import type { RunEvent } from "./run-events.js";

/**
 * What a coordinator asks a worker to do: bring one task of one graph up to date, as
 * `dagwright run-task GRAPH TASK` would (decide, run with the task's retries and timeout, verify,
 * record). Plain JSON, so any worker can take it.
 */
export interface TaskJobData {
  /** The coordinator's absolute project root (a worker started with `--root` uses its own). */
  root: string;
  /** The spec file, relative to `root`. */
  specFile: string;
  graph: string;
  task: string;
  /** Only these items of the (mapped) task: one bundle. Absent: the task as a whole. */
  keys?: string[];
  /** The state namespace the coordinator runs in; a worker that resolves another refuses. */
  namespace: string;
  /** The coordinator's branch (`DAGWRIGHT_BRANCH` for the worker), so every machine records into its namespace. */
  branch: string;
  /** The coordinator's resolved config as `--set` entries, so the worker resolves the same. */
  set: string[];
  force: boolean;
  /** Forward each line the task writes (`run -v`). */
  streamLogs: boolean;
  /** The coordinator's run, for the worker's log lines. */
  runId: string;
}

/** What a worker returns for a job: how its run of the task ended, by its own account. */
export interface TaskJobResult {
  outcome: "done" | "fresh" | "failed" | "cancelled" | "skipped";
  /** The worker's name (host:pid). */
  worker: string;
}

/**
 * What a worker reports while it works (BullMQ job progress): one event of its run.
 * `remoteLog`: the worker's log files are not on the coordinator's disk (it has a `--root` of its
 * own, or outputs travel through an artifact location), so it streams every log line and the
 * coordinator writes them into its own copy of the task's log.
 */
export type TaskJobProgress = { event: RunEvent; worker: string; remoteLog?: true };

/**
 * What a worker sends as one job progress update: its events in order since the last one (a
 * task's log lines go in batches, not a Redis call each).
 */
export type TaskJobProgressBatch = { events: RunEvent[]; worker: string; remoteLog?: true };

/**
 * The job id of a task's unit of work: the same for the same namespace, task and decision
 * (fingerprint, or `force`), so a coordinator that restarts finds the job its predecessor queued
 * instead of queueing a second one. BullMQ ids may not contain ":".
 */
export function taskJobId(namespace: string, task: string, key: string): string {
  const h = createHash("sha256")
    .update(JSON.stringify([namespace, task, key]))
    .digest("hex");
  return `dw-${h.slice(0, 40)}`;
}

/** The queue a task's jobs go to: its `machine_type`, else the default queue `dagwright`. */
export function queueOfTask(task: TaskSpec): string {
  return task.machineType ?? DEFAULT_QUEUE;
}

/**
 * The config as `--set` entries, one per top-level key with a JSON value, so a worker resolving
 * the graph with them gets the config the coordinator resolved (its `--env` and `--set` included).
 */
export function configAsSets(config: Record<string, unknown>): string[] {
  return Object.entries(config).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

/**
 * The branch part of a namespace (`namespaceFor(cacheNamespace, branch)` is `cache@branch`; a
 * branch may hold "@", the cache namespace does not).
 */
export function branchOfNamespace(namespace: string): string {
  return namespace.slice(namespace.indexOf("@") + 1);
}
