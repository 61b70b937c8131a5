import type Database from "better-sqlite3";
import { DagwrightError } from "../spec/errors.js";
import {
  currentResult,
  type PreparedWrite,
  type Shards,
  type TaskStateRow,
} from "./attempt-writes.js";
import { lazily } from "./sqlite-lazy.js";
import type {
  AttemptBegin,
  AttemptCompletion,
  AttemptFailure,
  AttemptWriteResult,
  OutputRecord,
} from "./state-store.js";

/**
 * Rows per multi-row INSERT of finished attempts, largest first (19 values each, well under
 * SQLite's 32,766). Any count is cut into these few sizes, so only they are ever prepared.
 */
const RECORD_CHUNKS = [512, 64, 8, 1] as const;

type BeginEntry = Extract<PreparedWrite, { kind: "begin" }>;
type OutcomeEntry = Extract<PreparedWrite, { kind: "outcome" }>;
type RecordEntry = Extract<PreparedWrite, { kind: "record" }>;

/** An entry of the SQLite group commit: an attempt write, or another write sharing its transaction. */
export type SqliteWrite = PreparedWrite | { kind: "op"; op: () => unknown };

/**
 * What fencing (see `StateStore.writeAttempts`) lets a write do: become the task/item's current
 * attempt, be kept as history only, or not be written at all; and why not current.
 */
type Fenced =
  | { verdict: "current" }
  | { verdict: "history" | "refused"; reason: "superseded" | "lock-lost" };

/**
 * The attempt writes of the SQLite driver, run inside its group-commit transaction (the caller
 * opens and commits it): fencing, begins, outcomes, and deferred records in multi-row INSERTs.
 */
export class SqliteAttemptWrites {
  private readonly insertStatements = new Map<number, Database.Statement<unknown[]>>();
  private readonly stmt: ReturnType<typeof prepareWriteStatements>;

  /**
   * `holdsLock(namespace, token)`: whether `token` holds the namespace's lock now (read in the
   * same transaction).
   */
  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly holdsLock: (namespace: string, token: string) => boolean,
  ) {
    this.stmt = prepareWriteStatements(db);
  }

  /**
   * The writes of one group commit, in order, inside its transaction. Consecutive begins, and
   * consecutive records, are fenced together and records go in through multi-row INSERTs, so a
   * bundle of a thousand items costs a few statements.
   */
  apply(entries: readonly SqliteWrite[]): unknown[] {
    const results: unknown[] = [];
    for (let at = 0; at < entries.length; ) {
      const first = entries[at]!;
      let end = at + 1;
      if (first.kind === "begin" || first.kind === "record")
        while (end < entries.length && entries[end]!.kind === first.kind) end++;
      const run = entries.slice(at, end);
      const done =
        first.kind === "record"
          ? this.recordMany(run as RecordEntry[])
          : first.kind === "begin"
            ? this.beginMany(run as BeginEntry[])
            : first.kind === "op"
              ? [first.op()]
              : [this.outcomeOne(first)];
      for (const r of done) results.push(r);
      at = end;
    }
    return results;
  }

  /** Running attempts; fenced ones (with a lock token) become current only if fencing agrees. */
  private beginMany(run: readonly BeginEntry[]): AttemptWriteResult[] {
    const verdicts = this.fence(
      run.map((e) => ({ attempt: e.write.attempt, success: false, lockToken: e.lockToken })),
      "history",
    );
    return run.map((e, i) => {
      const v = verdicts[i]!;
      const attemptId = this.beginOne(e.write.attempt, e.worker, v.verdict === "current");
      return v.verdict === "current"
        ? currentResult(attemptId)
        : { verdict: "history", attemptId, reason: v.reason };
    });
  }

  /** The outcome of an attempt begun earlier. */
  private outcomeOne(e: OutcomeEntry): AttemptWriteResult {
    const { attemptId, outcome } = e.write;
    if ("completion" in outcome) return this.completeOne(attemptId, outcome.completion, e.shards);
    const changed = this.stmt.markFailed.run(failColumns(attemptId, outcome.failure));
    if (changed.changes === 0) return { verdict: "refused", attemptId, reason: "not-running" };
    return this.stmt.currentOfAttempt.get(attemptId)?.current_attempt === attemptId
      ? currentResult(attemptId)
      : { verdict: "history", attemptId, reason: "superseded" };
  }

  /**
   * Attempts that already ended, in a constant number of statements however many there are (the
   * items of a bundle), inside the write transaction: fenced first (see {@link fence}), then the
   * rows that become current with their outputs and results, the task/item pointers through one
   * INSERT … SELECT over those new rows, and last the rows kept only as history.
   */
  private recordMany(run: readonly RecordEntry[]): AttemptWriteResult[] {
    const verdicts = this.fence(
      run.map((e) => ({
        attempt: e.write.attempt,
        success: "completion" in e.write.outcome,
        lockToken: e.lockToken,
      })),
      "refused",
    );
    const current = run.filter((_, i) => verdicts[i]!.verdict === "current");
    const before = this.stmt.maxAttemptId.get() as number;
    const ids = this.insertFinished(current);
    current.forEach(({ write: { outcome }, shards }, k) => {
      if ("completion" in outcome) this.insertSuccess(ids[k]!, outcome.completion.outputs, shards);
    });
    // Only the last success's result is ever read: drop the ones the new successes replace.
    this.stmt.deleteReplacedShards.run(before);
    this.stmt.pointAtNewAttempts.run(before);
    const historyIds = this.insertFinished(
      run.filter((_, i) => verdicts[i]!.verdict === "history"),
    );
    let c = 0;
    let h = 0;
    return verdicts.map((v): AttemptWriteResult => {
      if (v.verdict === "current") return currentResult(ids[c++]!);
      if (v.verdict === "history")
        return { verdict: "history", attemptId: historyIds[h++]!, reason: v.reason };
      return { verdict: "refused", reason: v.reason };
    });
  }

  /**
   * The verdict of fencing for each begin, read inside its transaction. A begin without a lock
   * token is current (it supersedes whatever began before). A deferred one (with a token) must
   * find its token holding the namespace's lock (else `unlocked`, `lock-lost`), and no current
   * attempt of its task/item (nor an earlier entry of `list`) that began after it (else, as
   * history for a begin or a failure and refused for a success, `superseded`).
   */
  private fence(
    list: readonly { attempt: AttemptBegin; success: boolean; lockToken: string | undefined }[],
    unlocked: "refused" | "history",
  ): Fenced[] {
    const holds = new Map<string, boolean>();
    const keys = list.map(({ attempt: a }) => [a.namespace, a.task, a.item ?? ""]);
    const newest = new Map<string, number>();
    if (list.some((x) => x.lockToken !== undefined))
      for (const r of this.stmt.currentStarts.all(JSON.stringify(keys)))
        newest.set(keys[r.i]!.join("\0"), r.started_at);
    return list.map(({ attempt: a, success, lockToken }, i): Fenced => {
      const key = keys[i]!.join("\0");
      const startedAt = a.startedAt ?? Date.now();
      if (lockToken === undefined) {
        newest.set(key, startedAt);
        return { verdict: "current" };
      }
      const holdKey = `${a.namespace}\0${lockToken}`;
      let held = holds.get(holdKey);
      if (held === undefined) {
        held = this.holdsLock(a.namespace, lockToken);
        holds.set(holdKey, held);
      }
      if (!held) return { verdict: success ? "refused" : unlocked, reason: "lock-lost" };
      const latest = newest.get(key);
      if (latest !== undefined && latest > startedAt)
        return { verdict: success ? "refused" : "history", reason: "superseded" };
      newest.set(key, startedAt);
      return { verdict: "current" };
    });
  }

  /**
   * Rows of attempts that already ended, with their final status, through multi-row INSERTs;
   * returns their ids in order (the rows after the largest id seen first are exactly these, as
   * this runs inside the write transaction). Touches no task/item pointer.
   */
  private insertFinished(list: readonly RecordEntry[]): number[] {
    if (list.length === 0) return [];
    const before = this.stmt.maxAttemptId.get() as number;
    const now = Date.now();
    for (let at = 0; at < list.length; ) {
      const size = RECORD_CHUNKS.find((n) => n <= list.length - at)!;
      const rows = list.slice(at, at + size);
      const values: unknown[] = [];
      for (const { write, shards, worker } of rows) {
        const { attempt: a, outcome } = write;
        const c = "completion" in outcome ? outcome.completion : undefined;
        const f = "failure" in outcome ? outcome.failure : undefined;
        const durationMs = c?.durationMs ?? f?.durationMs ?? 0;
        values.push(
          a.runId,
          a.namespace,
          a.task,
          a.item ?? "",
          c !== undefined ? "succeeded" : (f?.status ?? "failed"),
          a.fingerprint,
          a.partsJson ?? JSON.stringify(a.parts ?? null),
          a.startedAt,
          now,
          durationMs,
          c?.exitCode ?? f?.exitCode ?? null,
          f?.signal ?? null,
          c?.peakRssKb ?? f?.peakRssKb ?? null,
          c?.cpuMs ?? f?.cpuMs ?? null,
          a.logPath ?? null,
          f?.error ?? null,
          c?.resultHash ?? null,
          shards?.kind ?? null,
          worker,
        );
      }
      this.insertFinishedRows(rows.length).run(values);
      at += size;
    }
    const ids = this.stmt.attemptIdsAfter.all(before) as number[];
    if (ids.length !== list.length)
      throw new DagwrightError(
        "E_INTERNAL",
        `${this.file}: recorded ${list.length} attempts but found ${ids.length} new rows`,
      );
    return ids;
  }

  /** The outputs and result shards of a successful attempt. */
  private insertSuccess(
    attemptId: number,
    outputs: readonly OutputRecord[],
    shards: Shards | undefined,
  ): void {
    for (const o of outputs)
      this.stmt.insertOutput.run({
        attempt_id: attemptId,
        path: o.path,
        hash: o.hash,
        size: o.size,
        mtime_ms: o.mtimeMs,
      });
    shards?.json.forEach((json, shardNo) => {
      this.stmt.insertShard.run({ attempt_id: attemptId, shard_no: shardNo, json });
    });
  }

  /** `INSERT INTO attempts … VALUES (…), (…)` for `rows` finished attempts, prepared once. */
  private insertFinishedRows(rows: number): Database.Statement<unknown[]> {
    let stmt = this.insertStatements.get(rows);
    if (stmt === undefined) {
      const row = `(${Array.from({ length: 19 }, () => "?").join(", ")})`;
      stmt = this.db.prepare<unknown[]>(
        `INSERT INTO attempts (run_id, namespace, task, item, status, fingerprint, parts,
           started_at, ended_at, duration_ms, exit_code, signal, peak_rss_kb, cpu_ms, log_path,
           error, result_hash, result_kind, worker)
         VALUES ${Array.from({ length: rows }, () => row).join(", ")}`,
      );
      this.insertStatements.set(rows, stmt);
    }
    return stmt;
  }

  /** Inserts a running attempt and, unless fencing said otherwise, makes it current. */
  private beginOne(a: AttemptBegin, worker: string, becomesCurrent: boolean): number {
    const item = a.item ?? "";
    const inserted = this.stmt.insertAttempt.run({
      run_id: a.runId,
      namespace: a.namespace,
      task: a.task,
      item,
      fingerprint: a.fingerprint,
      parts: a.partsJson ?? JSON.stringify(a.parts ?? null),
      started_at: a.startedAt ?? Date.now(),
      log_path: a.logPath ?? null,
      worker,
    });
    const attemptId = Number(inserted.lastInsertRowid);
    if (becomesCurrent)
      this.stmt.setCurrent.run({
        namespace: a.namespace,
        task: a.task,
        item,
        attempt_id: attemptId,
      });
    return attemptId;
  }

  /** Marks the attempt succeeded and its task/item's last success, if it is current and running. */
  private completeOne(
    attemptId: number,
    c: AttemptCompletion,
    shards: Shards | undefined,
  ): AttemptWriteResult {
    const pointer = this.stmt.currentOfAttempt.get(attemptId);
    if (pointer === undefined || pointer.current_attempt !== attemptId)
      return { verdict: "refused", attemptId, reason: "superseded" };
    const changed = this.stmt.markSucceeded.run({
      attempt_id: attemptId,
      ended_at: Date.now(),
      duration_ms: c.durationMs,
      exit_code: c.exitCode ?? null,
      peak_rss_kb: c.peakRssKb ?? null,
      cpu_ms: c.cpuMs ?? null,
      result_hash: c.resultHash ?? null,
      result_kind: shards?.kind ?? null,
    });
    // Failed or cancelled meanwhile (invariant 6).
    if (changed.changes === 0) return { verdict: "refused", attemptId, reason: "not-running" };
    this.insertSuccess(attemptId, c.outputs, shards);
    // Only the last success's result is ever read; drop the one it replaces.
    if (pointer.last_success !== null) this.stmt.deleteShards.run(pointer.last_success);
    this.stmt.setLastSuccess.run({
      namespace: pointer.namespace,
      task: pointer.task,
      item: pointer.item,
    });
    return currentResult(attemptId);
  }
}

/** `markFailed`'s parameters. */
function failColumns(attemptId: number, f: AttemptFailure) {
  return {
    attempt_id: attemptId,
    status: f.status,
    ended_at: Date.now(),
    duration_ms: f.durationMs,
    exit_code: f.exitCode ?? null,
    signal: f.signal ?? null,
    error: f.error,
    peak_rss_kb: f.peakRssKb ?? null,
    cpu_ms: f.cpuMs ?? null,
  };
}

/** The statements of the attempt writes, each prepared when first used. */
function prepareWriteStatements(db: Database.Database) {
  return lazily({
    ...beginStatements(db),
    ...outcomeStatements(db),
    ...recordStatements(db),
  });
}

/** Makers of the statements that begin attempts: the running row, its pointer, fencing's reads. */
function beginStatements(db: Database.Database) {
  return {
    insertAttempt: () =>
      db.prepare<
        [
          {
            run_id: string;
            namespace: string;
            task: string;
            item: string;
            fingerprint: string;
            parts: string;
            started_at: number;
            log_path: string | null;
            worker: string;
          },
        ]
      >(
        `INSERT INTO attempts (run_id, namespace, task, item, status, fingerprint, parts, started_at,
         log_path, worker)
       VALUES (@run_id, @namespace, @task, @item, 'running', @fingerprint, @parts, @started_at,
         @log_path, @worker)`,
      ),
    setCurrent: () =>
      db.prepare<[{ namespace: string; task: string; item: string; attempt_id: number }]>(
        `INSERT INTO task_state (namespace, task, item, current_attempt)
       VALUES (@namespace, @task, @item, @attempt_id)
       ON CONFLICT (namespace, task, item) DO UPDATE SET current_attempt = excluded.current_attempt`,
      ),
    // The start of each key's current attempt; keys: JSON [[namespace, task, item], …].
    currentStarts: () =>
      db.prepare<[string], { i: number; started_at: number }>(
        `SELECT k.key AS i, a.started_at FROM json_each(?) k
       JOIN task_state s ON s.namespace = k.value ->> 0 AND s.task = k.value ->> 1
         AND s.item = k.value ->> 2
       JOIN attempts a ON a.attempt_id = s.current_attempt`,
      ),
  };
}

/** Makers of the statements that end an attempt begun earlier: its status, outputs and result. */
function outcomeStatements(db: Database.Database) {
  return {
    currentOfAttempt: () =>
      db.prepare<[number], TaskStateRow>(
        `SELECT s.namespace, s.task, s.item, s.current_attempt, s.last_success FROM attempts a
       JOIN task_state s ON s.namespace = a.namespace AND s.task = a.task AND s.item = a.item
       WHERE a.attempt_id = ?`,
      ),
    markSucceeded: () =>
      db.prepare<
        [
          {
            attempt_id: number;
            ended_at: number;
            duration_ms: number;
            exit_code: number | null;
            peak_rss_kb: number | null;
            cpu_ms: number | null;
            result_hash: string | null;
            result_kind: string | null;
          },
        ]
      >(
        `UPDATE attempts SET status = 'succeeded', ended_at = @ended_at, duration_ms = @duration_ms,
         exit_code = @exit_code, peak_rss_kb = @peak_rss_kb, cpu_ms = @cpu_ms,
         result_hash = @result_hash, result_kind = @result_kind
       WHERE attempt_id = @attempt_id AND status = 'running'`,
      ),
    markFailed: () =>
      db.prepare<
        [
          {
            attempt_id: number;
            status: string;
            ended_at: number;
            duration_ms: number;
            exit_code: number | null;
            signal: string | null;
            error: string;
            peak_rss_kb: number | null;
            cpu_ms: number | null;
          },
        ]
      >(
        `UPDATE attempts SET status = @status, ended_at = @ended_at, duration_ms = @duration_ms,
         exit_code = @exit_code, signal = @signal, error = @error, peak_rss_kb = @peak_rss_kb,
         cpu_ms = @cpu_ms
       WHERE attempt_id = @attempt_id AND status = 'running'`,
      ),
    insertOutput: () =>
      db.prepare<
        [{ attempt_id: number; path: string; hash: string; size: number; mtime_ms: number }]
      >(
        `INSERT OR REPLACE INTO outputs (attempt_id, path, hash, size, mtime_ms)
       VALUES (@attempt_id, @path, @hash, @size, @mtime_ms)`,
      ),
    insertShard: () =>
      db.prepare<[{ attempt_id: number; shard_no: number; json: string }]>(
        "INSERT INTO results (attempt_id, shard_no, json) VALUES (@attempt_id, @shard_no, @json)",
      ),
    deleteShards: () => db.prepare<[number]>("DELETE FROM results WHERE attempt_id = ?"),
    setLastSuccess: () =>
      db.prepare<[{ namespace: string; task: string; item: string }]>(
        `UPDATE task_state SET last_success = current_attempt
       WHERE namespace = @namespace AND task = @task AND item = @item`,
      ),
  };
}

/** Makers of the statements that record attempts which already ended, many rows at a time. */
function recordStatements(db: Database.Database) {
  return {
    maxAttemptId: () => db.prepare("SELECT coalesce(max(attempt_id), 0) FROM attempts").pluck(),
    attemptIdsAfter: () =>
      db
        .prepare("SELECT attempt_id FROM attempts WHERE attempt_id > ? ORDER BY attempt_id")
        .pluck(),
    deleteReplacedShards: () =>
      db.prepare<[number]>(
        `DELETE FROM results WHERE attempt_id IN (
         SELECT s.last_success FROM attempts a
         JOIN task_state s ON s.namespace = a.namespace AND s.task = a.task AND s.item = a.item
         WHERE a.attempt_id > ? AND a.status = 'succeeded' AND s.last_success IS NOT NULL)`,
      ),
    // New attempts become current, in id order; a success also becomes the last success.
    pointAtNewAttempts: () =>
      db.prepare<[number]>(
        `INSERT INTO task_state (namespace, task, item, current_attempt, last_success)
       SELECT namespace, task, item, attempt_id,
              CASE WHEN status = 'succeeded' THEN attempt_id END
       FROM attempts WHERE attempt_id > ? ORDER BY attempt_id
       ON CONFLICT (namespace, task, item) DO UPDATE
         SET current_attempt = excluded.current_attempt,
             last_success = coalesce(excluded.last_success, task_state.last_success)`,
      ),
  };
}
