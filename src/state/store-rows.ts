import type { RunRecord, TaskProcessRecord, TaskRunRecord, TaskStatus } from "./state-store.js";

/*
 * Row shapes and conversions shared by the SQLite and PostgreSQL drivers: both store the same
 * tables, so an attempt or a run reads back the same way whatever the driver.
 */

/** Items per shard of a stored list result (so a 1,000,000-item list is 100 rows, not one). */
export const SHARD_ITEMS = 10_000;

/** An output as the drivers' queries build it: [path, hash, size, mtime_ms]. */
export type OutputTuple = [string, string, number, number];

/** An `attempts` row with its outputs aggregated by the query. */
export interface AttemptRow<Outputs> {
  attempt_id: number;
  run_id: string;
  namespace: string;
  task: string;
  item: string;
  status: TaskStatus;
  fingerprint: string;
  parts: string;
  started_at: number;
  ended_at: number | null;
  duration_ms: number | null;
  exit_code: number | null;
  signal: string | null;
  peak_rss_kb: number | null;
  cpu_ms: number | null;
  log_path: string | null;
  error: string | null;
  result_hash: string | null;
  result_kind: "value" | "array" | null;
  /** `HOST:PID` of the process that wrote the begin; NULL in rows written before it was kept. */
  worker: string | null;
  /** JSON text (SQLite) or parsed JSON (PostgreSQL) of the attempt's {@link OutputTuple}s. */
  outputs_json: Outputs;
}

/** A `runs` row. */
export interface RunRow {
  run_id: string;
  namespace: string;
  graph: string;
  branch: string;
  status: RunRecord["status"];
  started_at: number;
  ended_at: number | null;
  pid: number;
}

/** A JSON value as `results` rows: arrays in shards of {@link SHARD_ITEMS} items, others whole. */
export function shardResult(result: unknown): { kind: "value" | "array"; json: string[] } {
  if (!Array.isArray(result)) return { kind: "value", json: [JSON.stringify(result) ?? "null"] };
  const json: string[] = [];
  for (let i = 0; i < result.length || i === 0; i += SHARD_ITEMS)
    json.push(JSON.stringify(result.slice(i, i + SHARD_ITEMS)));
  return { kind: "array", json };
}

/** An attempt row as a {@link TaskRunRecord}; `parts` is parsed on first access only. */
export function toTaskRun(
  row: AttemptRow<unknown>,
  outputs: readonly OutputTuple[],
): TaskRunRecord {
  const record: TaskRunRecord = {
    attemptId: row.attempt_id,
    runId: row.run_id,
    namespace: row.namespace,
    task: row.task,
    item: row.item,
    status: row.status,
    fingerprint: row.fingerprint,
    parts: undefined,
    startedAt: row.started_at,
    outputs: outputs.map(([path, hash, size, mtimeMs]) => ({ path, hash, size, mtimeMs })),
    hasResult: row.result_kind !== null,
  };
  if (row.ended_at !== null) record.endedAt = row.ended_at;
  if (row.duration_ms !== null) record.durationMs = row.duration_ms;
  if (row.exit_code !== null) record.exitCode = row.exit_code;
  if (row.signal !== null) record.signal = row.signal;
  if (row.peak_rss_kb !== null) record.peakRssKb = row.peak_rss_kb;
  if (row.cpu_ms !== null) record.cpuMs = row.cpu_ms;
  if (row.log_path !== null) record.logPath = row.log_path;
  if (row.error !== null) record.error = row.error;
  if (row.result_hash !== null) record.resultHash = row.result_hash;
  if (row.worker !== null && row.worker !== undefined) record.worker = row.worker;
  // Parts are only read to explain a changed fingerprint; a no-change rerun of a large graph
  // loads thousands of records and never looks at them.
  let parts: unknown;
  let parsed = false;
  Object.defineProperty(record, "parts", {
    enumerable: true,
    configurable: true,
    get() {
      if (!parsed) {
        parts = JSON.parse(row.parts) as unknown;
        parsed = true;
      }
      return parts;
    },
  });
  return record;
}

/** A runs row as a {@link RunRecord}. */
export function toRun(row: RunRow): RunRecord {
  const run: RunRecord = {
    runId: row.run_id,
    namespace: row.namespace,
    graph: row.graph,
    branch: row.branch,
    status: row.status,
    startedAt: row.started_at,
    pid: row.pid,
  };
  if (row.ended_at !== null) run.endedAt = row.ended_at;
  return run;
}

/** A `task_processes` row. */
export interface TaskProcessRow {
  host: string;
  pid: number;
  start_marker: string;
  namespace: string;
  task: string;
  item: string;
  pgid: number;
  runner_pid: number;
  runner_marker: string;
  since: number;
}

/** The columns of a `task_processes` row, in the order of {@link taskProcessRow}'s values. */
export const TASK_PROCESS_COLUMNS =
  "host, pid, start_marker, namespace, task, item, pgid, runner_pid, runner_marker, since";

/** The row of a {@link TaskProcessRecord}. */
export function taskProcessRow(p: TaskProcessRecord): TaskProcessRow {
  return {
    host: p.host,
    pid: p.pid,
    start_marker: p.startMarker,
    namespace: p.namespace,
    task: p.task,
    item: p.item,
    pgid: p.pgid,
    runner_pid: p.runnerPid,
    runner_marker: p.runnerMarker,
    since: p.since,
  };
}

/** The {@link TaskProcessRecord} of a row. */
export function toTaskProcess(row: TaskProcessRow): TaskProcessRecord {
  return {
    namespace: row.namespace,
    task: row.task,
    item: row.item,
    host: row.host,
    pid: row.pid,
    pgid: row.pgid,
    startMarker: row.start_marker,
    runnerPid: row.runner_pid,
    runnerMarker: row.runner_marker,
    since: row.since,
  };
}
