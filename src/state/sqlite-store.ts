import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { DagwrightError } from "../spec/errors.js";
import { prepareWrites, unknownRunError } from "./attempt-writes.js";
import { GroupCommit } from "./group-commit.js";
import { SqliteAttemptWrites, type SqliteWrite } from "./sqlite-attempt-writes.js";
import { lazily } from "./sqlite-lazy.js";
import { type SqliteMigration, sqliteMigrations } from "./sqlite-migrations.js";
import type {
  AttemptWrite,
  AttemptWriteResult,
  FileHashRow,
  ItemState,
  LockHolder,
  RunRecord,
  StateStore,
  TaskProcessKey,
  TaskProcessRecord,
  TaskRunRecord,
} from "./state-store.js";
import {
  type AttemptRow,
  type OutputTuple,
  type RunRow,
  TASK_PROCESS_COLUMNS,
  type TaskProcessRow,
  taskProcessRow,
  toRun,
  toTaskProcess,
  toTaskRun,
} from "./store-rows.js";

/**
 * better-sqlite3's compiled addon, named to it directly. Left to find it, it asks the `bindings`
 * package, which searches a dozen paths relative to the calling file: slow, and lost inside the
 * CLI's bundle (scripts/bundle.mjs), which includes better-sqlite3's JavaScript. Its install
 * (prebuilt download or node-gyp) always puts the addon here.
 */
let addonFile: string | undefined;
function nativeBinding(): string {
  try {
    addonFile ??= createRequire(import.meta.url).resolve(
      "better-sqlite3/build/Release/better_sqlite3.node",
    );
  } catch (error) {
    throw new DagwrightError("E_ENV", "better-sqlite3's compiled addon is missing", {
      cause: error,
      hint: "run `npm rebuild better-sqlite3` where dagwright is installed",
    });
  }
  return addonFile;
}

const DEFAULT_POLL_MS = 500;
const DEFAULT_RUNS_LIMIT = 100;
/** Rows per page of the read models (`taskItems`, `attemptsOfRun`) when the caller sets none. */
const DEFAULT_PAGE = 100;

/** A `file_hashes` row as SQLite returns it. */
interface FileHashColumns {
  size: number;
  mtime_ms: number;
  ctime_ms: number;
  ino: number;
  hashed_at_ms: number;
  hash: string;
}
const HINT = "upgrade dagwright, or point DAGWRIGHT_STATE_URL at another store";

/**
 * Opens (creating the file and its directory if needed) the SQLite state store at `file` and
 * migrates it to the current schema. `":memory:"` gives a private in-memory store.
 *
 * Throws `DagwrightError("E_ENV")` when the file is not a SQLite database, cannot be opened, stays
 * locked past the busy timeout, or was written by a newer dagwright (newer schema version).
 */
export function openSqliteStore(file: string): SqliteStateStore {
  return new SqliteStateStore(file);
}

interface LockRow {
  token: string;
  pid: number;
  host: string;
  command: string;
  since: number;
}

const ATTEMPT_COLUMNS = `a.attempt_id, a.run_id, a.namespace, a.task, a.item, a.status, a.fingerprint,
  a.parts, a.started_at, a.ended_at, a.duration_ms, a.exit_code, a.signal, a.peak_rss_kb, a.cpu_ms,
  a.log_path, a.error, a.result_hash, a.result_kind, a.worker,
  (SELECT json_group_array(json_array(o.path, o.hash, o.size, o.mtime_ms))
     FROM outputs o WHERE o.attempt_id = a.attempt_id) AS outputs_json`;

/**
 * Connections that {@link SqliteStateStore.close} left for the process to drop as it ends. Closing
 * the last connection to a database checkpoints its WAL: two fsyncs and a copy of the pages into
 * the database file, 5-10 ms at the end of every run. Dropped with the process, the WAL stays
 * next to the database, every commit in it, and SQLite folds it in later: when a commit finds it
 * past wal_autocheckpoint pages, or when a close finds no other connection.
 */
let leftForExit = 0;

/** How many SQLite connections wait for the process's end (see {@link leftForExit}). */
export function connectionsLeftForExit(): number {
  return leftForExit;
}

/**
 * Per-connection scratch tables of `copyNamespace`: old attempt and run ids → their copies' ids.
 * Created on first use only, so a connection that never copies never changes its schema.
 */
const COPY_TABLES = `
  CREATE TEMP TABLE IF NOT EXISTS copy_attempts (old_id INTEGER PRIMARY KEY, new_id INTEGER NOT NULL);
  CREATE TEMP TABLE IF NOT EXISTS copy_runs (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL);`;

/** Selects one task_state row (alias `s`) by its primary key. */
const S_KEY = "s.namespace = @namespace AND s.task = @task AND s.item = @item";

/**
 * {@link StateStore} on one SQLite file (WAL, busy timeout 5 s). Safe to share between processes on
 * one machine; not on network file systems (use the PostgreSQL driver there).
 */
export class SqliteStateStore implements StateStore {
  /** The file this store was opened on. */
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stmt: ReturnType<typeof prepareStatements>;
  private readonly heldLocks = new Map<string, { namespace: string; token: string }>();
  private closed = false;
  private closing = false;
  /**
   * Group commit: writes issued in the same turn of the event loop (tasks finishing together, a
   * finish and the next begin, process records) share one BEGIN IMMEDIATE transaction, committed
   * before any of their promises settles.
   */
  private readonly commits = new GroupCommit<SqliteWrite, unknown>((entries) =>
    this.guard(() => this.db.transaction(() => this.writes.apply(entries)).immediate()),
  );
  private readonly writes: SqliteAttemptWrites;

  /** Prefer {@link openSqliteStore}. Throws like it. */
  constructor(file: string) {
    this.file = file;
    this.db = openDatabase(file);
    try {
      migrate(this.db, file, sqliteMigrations);
      this.stmt = prepareStatements(this.db);
      this.writes = new SqliteAttemptWrites(this.db, file, (namespace, token) => {
        const row = this.stmt.getLock.get(namespace);
        return row?.token === token && !isStale(row);
      });
    } catch (error) {
      this.db.close();
      throw envError(error, file);
    }
  }

  async beginRun(r: {
    namespace: string;
    graph: string;
    branch: string;
    command: string;
  }): Promise<string> {
    const runId = randomUUID();
    this.guard(() =>
      this.stmt.insertRun.run({
        run_id: runId,
        namespace: r.namespace,
        graph: r.graph,
        branch: r.branch,
        command: r.command,
        started_at: Date.now(),
        pid: process.pid,
        host: hostname(),
      }),
    );
    return runId;
  }

  async endRun(runId: string, status: RunRecord["status"]): Promise<void> {
    this.guard(() => this.stmt.endRun.run({ run_id: runId, status, ended_at: Date.now() }));
  }

  async writeAttempts(
    writes: readonly AttemptWrite[],
    opts: { lockToken?: string } = {},
  ): Promise<AttemptWriteResult[]> {
    const entries = prepareWrites(writes, opts.lockToken);
    try {
      // A begin written without a lock is how other runners see the attempt running: at once.
      const now = entries.some((e) => e.kind === "begin" && e.lockToken === undefined);
      return (await this.commits.submit(entries, { now })) as AttemptWriteResult[];
    } catch (error) {
      throw unknownRunError(
        error,
        sqliteCode(error) === "SQLITE_CONSTRAINT_FOREIGNKEY",
        writes,
        this.file,
      );
    }
  }

  async itemStates(
    namespace: string,
    task: string,
    items?: readonly string[],
  ): Promise<Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>> {
    const rows = this.guard(() =>
      items === undefined
        ? this.stmt.itemStates.all({ namespace, task })
        : this.stmt.itemStatesOf.all({ namespace, task, items: JSON.stringify(items) }),
    );
    return groupStates(rows, (row) => row.item);
  }

  async taskItems(
    namespace: string,
    task: string,
    page: { after?: string; limit?: number } = {},
  ): Promise<ItemState[]> {
    const rows = this.guard(() =>
      this.stmt.taskItems.all({
        namespace,
        task,
        after: page.after ?? "",
        limit: page.limit ?? DEFAULT_PAGE,
      }),
    );
    return [...groupStates(rows, (row) => row.item)].map(([item, state]) => ({ item, ...state }));
  }

  async attemptsOfRun(
    runId: string,
    page: { after?: number; limit?: number } = {},
  ): Promise<TaskRunRecord[]> {
    const rows = this.guard(() =>
      this.stmt.attemptsOfRun.all({
        run_id: runId,
        after: page.after ?? 0,
        limit: page.limit ?? DEFAULT_PAGE,
      }),
    );
    return rows.map(toTaskRunOf);
  }

  async attempt(attemptId: number): Promise<TaskRunRecord | undefined> {
    const row = this.guard(() => this.stmt.attempt.get(attemptId));
    return row && toTaskRunOf(row);
  }

  async runningAttempts(namespace: string): Promise<TaskRunRecord[]> {
    return this.guard(() => this.stmt.runningAttempts.all(namespace)).map(toTaskRunOf);
  }

  async lastAttempt(
    namespace: string,
    task: string,
    item = "",
  ): Promise<TaskRunRecord | undefined> {
    const row = this.guard(() => this.stmt.lastAttempt.get({ namespace, task, item }));
    return row && toTaskRun(row, JSON.parse(row.outputs_json) as OutputTuple[]);
  }

  async lastSuccess(
    namespace: string,
    task: string,
    item = "",
  ): Promise<TaskRunRecord | undefined> {
    const row = this.guard(() => this.stmt.lastSuccess.get({ namespace, task, item }));
    return row && toTaskRun(row, JSON.parse(row.outputs_json) as OutputTuple[]);
  }

  async taskStates(
    namespace: string,
    tasks: readonly string[],
  ): Promise<Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>> {
    const rows = this.guard(() =>
      this.stmt.taskStates.all({ namespace, tasks: JSON.stringify(tasks) }),
    );
    return groupStates(rows, (row) => row.task);
  }

  async result(namespace: string, task: string, item = ""): Promise<unknown> {
    return this.guard(() => {
      const head = this.stmt.resultKind.get({ namespace, task, item });
      if (head === undefined || head.result_kind === null) return undefined;
      const shards = this.stmt.shards.all(head.attempt_id);
      if (head.result_kind === "value") return JSON.parse(shards[0]?.json ?? "null") as unknown;
      const items: unknown[] = [];
      for (const shard of shards)
        for (const x of JSON.parse(shard.json) as unknown[]) items.push(x);
      return items;
    });
  }

  async runs(namespace?: string, limit = DEFAULT_RUNS_LIMIT): Promise<RunRecord[]> {
    const rows = this.guard(() =>
      namespace === undefined
        ? this.stmt.runsAll.all(limit)
        : this.stmt.runsOfNamespace.all({ namespace, limit }),
    );
    return rows.map(toRun);
  }

  async acquireLock(
    namespace: string,
    holder: { command: string },
    opts: { wait: boolean; onWait?: (h: LockHolder) => void; pollMs?: number },
  ): Promise<
    | { acquired: true; token: string; release: () => Promise<void> }
    | { acquired: false; holder: LockHolder }
  > {
    let waiting = false;
    for (;;) {
      const attempt = this.tryLock(namespace, holder.command);
      if ("token" in attempt) {
        const key = `${namespace}\0${attempt.token}`;
        this.heldLocks.set(key, { namespace, token: attempt.token });
        const release = async (): Promise<void> => {
          if (!this.heldLocks.delete(key) || this.closed) return;
          this.guard(() => this.stmt.deleteLock.run({ namespace, token: attempt.token }));
        };
        return { acquired: true, token: attempt.token, release };
      }
      if (!opts.wait) return { acquired: false, holder: attempt.holder };
      if (!waiting) {
        waiting = true;
        opts.onWait?.(attempt.holder);
      }
      await sleep(opts.pollMs ?? DEFAULT_POLL_MS);
    }
  }

  getFileHash(path: string): FileHashRow | undefined {
    const row = this.guard(() => this.stmt.getFileHash.get(path));
    return (
      row && {
        size: row.size,
        mtimeMs: row.mtime_ms,
        ctimeMs: row.ctime_ms,
        ino: row.ino,
        hashedAtMs: row.hashed_at_ms,
        hash: row.hash,
      }
    );
  }

  putFileHashes(rows: (FileHashRow & { path: string })[]): void {
    if (rows.length === 0) return;
    const put = this.db.transaction(() => {
      for (const r of rows)
        this.stmt.putFileHash.run({
          path: r.path,
          size: r.size,
          mtime_ms: r.mtimeMs,
          ctime_ms: r.ctimeMs,
          ino: r.ino,
          hashed_at_ms: r.hashedAtMs,
          hash: r.hash,
        });
    });
    this.guard(() => put.immediate());
  }

  async countTaskRecords(namespace: string, atMost?: number): Promise<number> {
    return this.guard(() => this.stmt.countTaskRecords.get(namespace, atMost ?? -1) ?? 0);
  }

  async copyNamespace(from: string, to: string, lockToken: string): Promise<number> {
    return (await this.write(() => this.copyIn(from, to, lockToken))) as number;
  }

  /**
   * {@link copyNamespace} inside the write transaction. The picked attempts get ids above every id
   * the table ever gave (its AUTOINCREMENT counter included), in their old order; two temp tables
   * map old ids to new ones so that every table is copied by one INSERT … SELECT.
   */
  private copyIn(from: string, to: string, lockToken: string): number {
    const lock = this.stmt.getLock.get(to);
    if (lock?.token !== lockToken || isStale(lock)) return 0;
    if ((this.stmt.countTaskRecords.get(to, 1) ?? 0) > 0) return 0;
    this.db.exec(COPY_TABLES);
    try {
      this.stmt.pickAttempts.run({ from, base: this.stmt.attemptIdCeiling.get() ?? 0 });
      for (const run of this.stmt.pickedRuns.all())
        this.stmt.mapRun.run({ old_id: run, new_id: randomUUID() });
      this.stmt.copyRuns.run({ to });
      this.stmt.copyAttempts.run({ to });
      this.stmt.copyOutputs.run();
      this.stmt.copyShards.run();
      return this.stmt.copyTaskState.run({ from, to }).changes;
    } finally {
      this.db.exec("DELETE FROM temp.copy_attempts; DELETE FROM temp.copy_runs;");
    }
  }

  /** Runs `op` in the next group commit's transaction (see {@link commits}). */
  private async write(op: () => unknown): Promise<unknown> {
    return (await this.commits.submit([{ kind: "op", op }]))[0];
  }

  async updateTaskProcesses(change: {
    started?: readonly TaskProcessRecord[];
    ended?: readonly TaskProcessKey[];
  }): Promise<void> {
    const { started = [], ended = [] } = change;
    if (started.length === 0 && ended.length === 0) return;
    // A group commit: a fan-out's process starts share the transaction of its attempt records.
    await this.write(() => {
      for (const p of started) this.stmt.putTaskProcess.run(taskProcessRow(p));
      for (const k of ended)
        this.stmt.deleteTaskProcess.run({ host: k.host, pid: k.pid, start_marker: k.startMarker });
    });
  }

  async taskProcesses(namespace: string, host: string): Promise<TaskProcessRecord[]> {
    return this.guard(() => this.stmt.taskProcesses.all(namespace, host)).map(toTaskProcess);
  }

  async namespaces(): Promise<{ namespace: string; tasks: number; lastRun?: number }[]> {
    const rows = this.guard(() => this.stmt.namespaces.all());
    return rows.map((r) =>
      r.last_run === null
        ? { namespace: r.namespace, tasks: r.tasks }
        : { namespace: r.namespace, tasks: r.tasks, lastRun: r.last_run },
    );
  }

  /**
   * The version of `namespace`'s planning state, for the no-change memo (src/cli/no-change.ts):
   * this file's random id and a counter that every committed write to the namespace's attempts,
   * task and item pointers, outputs or results increments (triggers, so whichever process or code
   * path writes). Runs, locks and the file hash cache do not change it; reads never do.
   */
  stateSignature(namespace: string): string {
    return this.guard(() => this.stmt.stateSignature.get(namespace)) ?? "";
  }

  /** The live holder of `namespace`'s run lock, if any (a stale lock counts as none). */
  lockHolder(namespace: string): LockHolder | undefined {
    const row = this.guard(() => this.stmt.getLock.get(namespace));
    return row === undefined || isStale(row) ? undefined : toHolder(row);
  }

  /**
   * Writes what is pending, releases the locks and closes the connection; with `leaveForExit`, the
   * connection is left for the process to drop as it ends ({@link leftForExit}): the caller is a
   * command about to exit. An exit that runs Node's cleanup closes it then.
   */
  async close(options: { leaveForExit?: boolean } = {}): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    await this.commits.drain();
    try {
      for (const { namespace, token } of this.heldLocks.values())
        this.stmt.deleteLock.run({ namespace, token });
    } finally {
      this.heldLocks.clear();
      this.closed = true;
      if (options.leaveForExit && this.file !== ":memory:") leftForExit++;
      else this.db.close();
    }
  }

  /** One BEGIN IMMEDIATE transaction: take the lock if free or stale, else report the holder. */
  private tryLock(namespace: string, command: string): { token: string } | { holder: LockHolder } {
    const take = this.db.transaction(() => {
      const row = this.stmt.getLock.get(namespace);
      if (row !== undefined && !isStale(row)) return { holder: toHolder(row) };
      const token = randomUUID();
      this.stmt.putLock.run({
        namespace,
        token,
        pid: process.pid,
        host: hostname(),
        command,
        since: Date.now(),
      });
      return { token };
    });
    return this.guard(() => take.immediate());
  }

  /**
   * Turns what the machine causes into environment errors naming the state file: "database is
   * locked" (busy timeout exceeded), a full disk, an I/O error, a read-only file.
   */
  private guard<T>(fn: () => T): T {
    if (this.closed)
      throw new DagwrightError("E_INTERNAL", `state store ${this.file} is already closed`);
    try {
      return fn();
    } catch (error) {
      throw storageError(error, this.file) ?? error;
    }
  }
}

/** An attempt row with its outputs as JSON text, as a {@link TaskRunRecord}. */
function toTaskRunOf(row: AttemptRow<string>): TaskRunRecord {
  return toTaskRun(row, JSON.parse(row.outputs_json) as OutputTuple[]);
}

/** Attempt rows (with their task/item pointers) as the last attempt and last success per key. */
function groupStates<
  R extends AttemptRow<string> & { current_attempt: number; last_success: number | null },
>(
  rows: readonly R[],
  keyOf: (row: R) => string,
): Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }> {
  const states = new Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>();
  for (const row of rows) {
    const record = toTaskRun(row, JSON.parse(row.outputs_json) as OutputTuple[]);
    const state = states.get(keyOf(row)) ?? {};
    if (row.attempt_id === row.current_attempt) state.lastAttempt = record;
    if (row.attempt_id === row.last_success) state.lastSuccess = record;
    states.set(keyOf(row), state);
  }
  return states;
}

function openDatabase(file: string): Database.Database {
  let db: Database.Database;
  try {
    if (file !== ":memory:") {
      mkdirSync(dirname(file), { recursive: true });
      // A log without its database (deleted alone): SQLite would replay it into the new file.
      if (!existsSync(file))
        for (const suffix of ["-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
    }
    db = new Database(file, { nativeBinding: nativeBinding() });
  } catch (error) {
    throw envError(error, file);
  }
  try {
    db.pragma("busy_timeout = 5000");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
  } catch (error) {
    db.close();
    throw envError(error, file);
  }
  return db;
}

/**
 * Brings the schema up to the last migration, each step in its own BEGIN IMMEDIATE transaction
 * that re-reads the version, so concurrent openers of a new file migrate it exactly once.
 */
function migrate(
  db: Database.Database,
  file: string,
  migrations: readonly SqliteMigration[],
): void {
  const known = migrations.at(-1)?.version ?? 0;
  const version = (): number => db.pragma("user_version", { simple: true }) as number;
  const found = version();
  if (found > known)
    throw new DagwrightError(
      "E_ENV",
      `${file}: state.db was written by a newer dagwright (schema v${found}, this one knows v${known}); refusing to open it`,
      { hint: HINT },
    );
  for (const m of migrations) {
    if (m.version <= found) continue;
    db.transaction(() => {
      if (version() >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}

/** The store's statements, each prepared when first used. */
function prepareStatements(db: Database.Database) {
  return lazily({
    ...runStatements(db),
    ...pointerReadStatements(db),
    ...attemptReadStatements(db),
    ...lockStatements(db),
    ...fileHashStatements(db),
    ...namespaceStatements(db),
    ...copyStatements(db),
    ...taskProcessStatements(db),
  });
}

/** Makers of the statements on runs: their start, end and listings. */
function runStatements(db: Database.Database) {
  return {
    insertRun: () =>
      db.prepare<
        [
          {
            run_id: string;
            namespace: string;
            graph: string;
            branch: string;
            command: string;
            started_at: number;
            pid: number;
            host: string;
          },
        ]
      >(
        `INSERT INTO runs (run_id, namespace, graph, branch, command, status, started_at, pid, host)
       VALUES (@run_id, @namespace, @graph, @branch, @command, 'running', @started_at, @pid, @host)`,
      ),
    endRun: () =>
      db.prepare<[{ run_id: string; status: string; ended_at: number }]>(
        "UPDATE runs SET status = @status, ended_at = @ended_at WHERE run_id = @run_id",
      ),
    runsAll: () =>
      db.prepare<[number], RunRow>(
        `SELECT run_id, namespace, graph, branch, status, started_at, ended_at, pid FROM runs
       ORDER BY started_at DESC, rowid DESC LIMIT ?`,
      ),
    runsOfNamespace: () =>
      db.prepare<[{ namespace: string; limit: number }], RunRow>(
        `SELECT run_id, namespace, graph, branch, status, started_at, ended_at, pid FROM runs
       WHERE namespace = @namespace ORDER BY started_at DESC, rowid DESC LIMIT @limit`,
      ),
  };
}

/** Makers of the statements that read tasks' and items' current attempts and last successes. */
function pointerReadStatements(db: Database.Database) {
  return {
    lastAttempt: () =>
      db.prepare<[{ namespace: string; task: string; item: string }], AttemptRow<string>>(
        `SELECT ${ATTEMPT_COLUMNS} FROM task_state s JOIN attempts a ON a.attempt_id = s.current_attempt
       WHERE ${S_KEY}`,
      ),
    lastSuccess: () =>
      db.prepare<[{ namespace: string; task: string; item: string }], AttemptRow<string>>(
        `SELECT ${ATTEMPT_COLUMNS} FROM task_state s JOIN attempts a ON a.attempt_id = s.last_success
       WHERE ${S_KEY}`,
      ),
    itemStates: () =>
      db.prepare<
        [{ namespace: string; task: string }],
        AttemptRow<string> & { current_attempt: number; last_success: number | null }
      >(
        `SELECT s.current_attempt, s.last_success, ${ATTEMPT_COLUMNS}
       FROM task_state s
       JOIN attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
       WHERE s.namespace = @namespace AND s.task = @task AND s.item <> ''`,
      ),
    itemStatesOf: () =>
      db.prepare<
        [{ namespace: string; task: string; items: string }],
        AttemptRow<string> & { current_attempt: number; last_success: number | null }
      >(
        `SELECT s.current_attempt, s.last_success, ${ATTEMPT_COLUMNS}
       FROM task_state s
       JOIN attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
       WHERE s.namespace = @namespace AND s.task = @task AND s.item <> ''
         AND s.item IN (SELECT value FROM json_each(@items))`,
      ),
    taskStates: () =>
      db.prepare<
        [{ namespace: string; tasks: string }],
        AttemptRow<string> & { current_attempt: number; last_success: number | null }
      >(
        `SELECT s.current_attempt, s.last_success, ${ATTEMPT_COLUMNS}
       FROM task_state s
       JOIN attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
       WHERE s.namespace = @namespace AND s.item = ''
         AND s.task IN (SELECT value FROM json_each(@tasks))`,
      ),
    taskItems: () =>
      db.prepare<
        [{ namespace: string; task: string; after: string; limit: number }],
        AttemptRow<string> & { current_attempt: number; last_success: number | null }
      >(
        `SELECT s.current_attempt, s.last_success, ${ATTEMPT_COLUMNS}
       FROM (SELECT * FROM task_state
             WHERE namespace = @namespace AND task = @task AND item > @after
             ORDER BY item LIMIT @limit) s
       JOIN attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
       ORDER BY s.item`,
      ),
    runningAttempts: () =>
      db.prepare<[string], AttemptRow<string>>(
        `SELECT ${ATTEMPT_COLUMNS} FROM task_state s
       JOIN attempts a ON a.attempt_id = s.current_attempt
       WHERE s.namespace = ? AND a.status = 'running'
       ORDER BY s.task, s.item`,
      ),
  };
}

/** Makers of the statements that read attempts by id or run, and their results. */
function attemptReadStatements(db: Database.Database) {
  return {
    attemptsOfRun: () =>
      db.prepare<[{ run_id: string; after: number; limit: number }], AttemptRow<string>>(
        `SELECT ${ATTEMPT_COLUMNS} FROM attempts a
       WHERE a.run_id = @run_id AND a.attempt_id > @after ORDER BY a.attempt_id LIMIT @limit`,
      ),
    attempt: () =>
      db.prepare<[number], AttemptRow<string>>(
        `SELECT ${ATTEMPT_COLUMNS} FROM attempts a WHERE a.attempt_id = ?`,
      ),
    resultKind: () =>
      db.prepare<
        [{ namespace: string; task: string; item: string }],
        { attempt_id: number; result_kind: "value" | "array" | null }
      >(
        `SELECT a.attempt_id, a.result_kind FROM task_state s
       JOIN attempts a ON a.attempt_id = s.last_success
       WHERE ${S_KEY}`,
      ),
    shards: () =>
      db.prepare<[number], { json: string }>(
        "SELECT json FROM results WHERE attempt_id = ? ORDER BY shard_no",
      ),
  };
}

/** Makers of the statements on namespaces' locks. */
function lockStatements(db: Database.Database) {
  return {
    getLock: () =>
      db.prepare<[string], LockRow>(
        "SELECT token, pid, host, command, since FROM locks WHERE namespace = ?",
      ),
    putLock: () =>
      db.prepare<
        [
          {
            namespace: string;
            token: string;
            pid: number;
            host: string;
            command: string;
            since: number;
          },
        ]
      >(
        `INSERT OR REPLACE INTO locks (namespace, token, pid, host, command, since)
       VALUES (@namespace, @token, @pid, @host, @command, @since)`,
      ),
    deleteLock: () =>
      db.prepare<[{ namespace: string; token: string }]>(
        "DELETE FROM locks WHERE namespace = @namespace AND token = @token",
      ),
  };
}

/** Makers of the statements on the cache of file hashes. */
function fileHashStatements(db: Database.Database) {
  return {
    getFileHash: () =>
      db.prepare<[string], FileHashColumns>(
        "SELECT size, mtime_ms, ctime_ms, ino, hashed_at_ms, hash FROM file_hashes WHERE path = ?",
      ),
    putFileHash: () =>
      db.prepare<[FileHashColumns & { path: string }]>(
        `INSERT OR REPLACE INTO file_hashes (path, size, mtime_ms, ctime_ms, ino, hashed_at_ms, hash)
       VALUES (@path, @size, @mtime_ms, @ctime_ms, @ino, @hashed_at_ms, @hash)`,
      ),
  };
}

/** Makers of the statements that describe namespaces and the store as a whole. */
function namespaceStatements(db: Database.Database) {
  return {
    stateSignature: () =>
      db
        .prepare<[string], string>(
          `SELECT (SELECT id FROM store_identity) || ':' ||
           coalesce((SELECT version FROM state_versions WHERE namespace = ?), 0)`,
        )
        .pluck(),
    countTaskRecords: () =>
      db
        .prepare<[string, number], number>(
          "SELECT count(*) FROM (SELECT 1 FROM task_state WHERE namespace = ? LIMIT ?)",
        )
        .pluck(),
    namespaces: () =>
      db.prepare<[], { namespace: string; tasks: number; last_run: number | null }>(
        `SELECT ns.namespace,
         (SELECT count(DISTINCT task) FROM task_state s WHERE s.namespace = ns.namespace) AS tasks,
         (SELECT max(started_at) FROM runs r WHERE r.namespace = ns.namespace) AS last_run
       FROM (SELECT namespace FROM task_state UNION SELECT namespace FROM runs) ns
       ORDER BY ns.namespace`,
      ),
  };
}

/** Makers of the statements that copy one namespace's state into another. */
function copyStatements(db: Database.Database) {
  return {
    // Above every id AUTOINCREMENT gave, even those of rows since deleted.
    attemptIdCeiling: () =>
      db
        .prepare<[], number>(
          `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'attempts'), 0),
                      coalesce((SELECT max(attempt_id) FROM attempts), 0))`,
        )
        .pluck(),
    // The statements below read the temp tables of COPY_TABLES, created before their first use.
    pickAttempts: () =>
      db.prepare<[{ from: string; base: number }]>(
        `INSERT INTO temp.copy_attempts (old_id, new_id)
       SELECT attempt_id, @base + row_number() OVER (ORDER BY attempt_id) FROM attempts
       WHERE attempt_id IN (SELECT current_attempt FROM task_state WHERE namespace = @from
                            UNION SELECT last_success FROM task_state WHERE namespace = @from)`,
      ),
    pickedRuns: () =>
      db
        .prepare<[], string>(
          `SELECT DISTINCT a.run_id FROM temp.copy_attempts c
         JOIN attempts a ON a.attempt_id = c.old_id`,
        )
        .pluck(),
    mapRun: () =>
      db.prepare<[{ old_id: string; new_id: string }]>(
        "INSERT INTO temp.copy_runs (old_id, new_id) VALUES (@old_id, @new_id)",
      ),
    copyRuns: () =>
      db.prepare<[{ to: string }]>(
        `INSERT INTO runs (run_id, namespace, graph, branch, command, status, started_at, ended_at,
         pid, host)
       SELECT m.new_id, @to, r.graph, r.branch, r.command, r.status, r.started_at, r.ended_at,
         r.pid, r.host
       FROM temp.copy_runs m JOIN runs r ON r.run_id = m.old_id`,
      ),
    copyAttempts: () =>
      db.prepare<[{ to: string }]>(
        `INSERT INTO attempts (attempt_id, run_id, namespace, task, item, status, fingerprint, parts,
         started_at, ended_at, duration_ms, exit_code, signal, peak_rss_kb, cpu_ms, log_path, error,
         result_hash, result_kind, worker)
       SELECT c.new_id, m.new_id, @to, a.task, a.item, a.status, a.fingerprint, a.parts,
         a.started_at, a.ended_at, a.duration_ms, a.exit_code, a.signal, a.peak_rss_kb, a.cpu_ms,
         a.log_path, a.error, a.result_hash, a.result_kind, a.worker
       FROM temp.copy_attempts c
       JOIN attempts a ON a.attempt_id = c.old_id
       JOIN temp.copy_runs m ON m.old_id = a.run_id
       ORDER BY c.new_id`,
      ),
    copyOutputs: () =>
      db.prepare<[]>(
        `INSERT INTO outputs (attempt_id, path, hash, size, mtime_ms)
       SELECT c.new_id, o.path, o.hash, o.size, o.mtime_ms
       FROM temp.copy_attempts c JOIN outputs o ON o.attempt_id = c.old_id`,
      ),
    copyShards: () =>
      db.prepare<[]>(
        `INSERT INTO results (attempt_id, shard_no, json)
       SELECT c.new_id, r.shard_no, r.json
       FROM temp.copy_attempts c JOIN results r ON r.attempt_id = c.old_id`,
      ),
    // DO NOTHING: a pointer a lock-less runner (run-task) wrote meanwhile is its own state.
    copyTaskState: () =>
      db.prepare<[{ from: string; to: string }]>(
        `INSERT INTO task_state (namespace, task, item, current_attempt, last_success)
       SELECT @to, s.task, s.item, cur.new_id, suc.new_id FROM task_state s
       JOIN temp.copy_attempts cur ON cur.old_id = s.current_attempt
       LEFT JOIN temp.copy_attempts suc ON suc.old_id = s.last_success
       WHERE s.namespace = @from
       ON CONFLICT (namespace, task, item) DO NOTHING`,
      ),
  };
}

/** Makers of the statements on the task processes recorded for cleanup. */
function taskProcessStatements(db: Database.Database) {
  return {
    putTaskProcess: () =>
      db.prepare<[TaskProcessRow]>(
        `INSERT OR REPLACE INTO task_processes (${TASK_PROCESS_COLUMNS})
       VALUES (@host, @pid, @start_marker, @namespace, @task, @item, @pgid, @runner_pid,
               @runner_marker, @since)`,
      ),
    deleteTaskProcess: () =>
      db.prepare<[{ host: string; pid: number; start_marker: string }]>(
        `DELETE FROM task_processes
       WHERE host = @host AND pid = @pid AND start_marker = @start_marker`,
      ),
    taskProcesses: () =>
      db.prepare<[string, string], TaskProcessRow>(
        `SELECT ${TASK_PROCESS_COLUMNS} FROM task_processes
       WHERE namespace = ? AND host = ? ORDER BY since, pid`,
      ),
  };
}

function toHolder(row: LockRow): LockHolder {
  return { pid: row.pid, host: row.host, command: row.command, since: row.since };
}

/** A lock is stale when its holder ran on this host and that process is gone. */
function isStale(row: LockRow): boolean {
  if (row.host !== hostname()) return false;
  if (!Number.isInteger(row.pid) || row.pid <= 0) return true;
  try {
    process.kill(row.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists but belongs to another user, so it is alive.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

/** The environment error for a failure the machine caused, or undefined for anything else. */
function storageError(error: unknown, file: string): DagwrightError | undefined {
  const code = sqliteCode(error);
  const env = (reason: string, hint: string) =>
    new DagwrightError("E_ENV", `state store ${file}: ${reason}`, { cause: error, hint });
  if (code?.startsWith("SQLITE_BUSY") || code?.startsWith("SQLITE_LOCKED"))
    return env(
      "it stayed locked by another process for more than 5 s",
      "wait for the other dagwright command to finish, then retry",
    );
  if (code === "SQLITE_FULL" || (error as NodeJS.ErrnoException).code === "ENOSPC")
    return env(
      "the disk is full",
      `free space on the disk that holds ${dirname(file)}, then rerun: what was not recorded runs again`,
    );
  if (code?.startsWith("SQLITE_IOERR"))
    return env(
      `a disk read or write failed (${code})`,
      "check the disk and its free space, then rerun",
    );
  if (code?.startsWith("SQLITE_READONLY"))
    return env(
      "the file or its directory is read-only",
      "make it writable, or point DAGWRIGHT_STATE_URL at a writable place",
    );
  return undefined;
}

function envError(error: unknown, file: string): unknown {
  if (error instanceof DagwrightError) return error;
  const storage = storageError(error, file);
  if (storage !== undefined) return storage;
  const code = sqliteCode(error);
  const [reason, hint] =
    code === "SQLITE_NOTADB"
      ? ["is not a SQLite database", "move the file away, or point DAGWRIGHT_STATE_URL elsewhere"]
      : code?.startsWith("SQLITE_BUSY")
        ? [
            "stayed locked by another process for more than 5 s",
            "wait for the other dagwright command to finish, then retry",
          ]
        : [
            `cannot be opened (${error instanceof Error ? error.message : String(error)})`,
            "check the directory's permissions, or point DAGWRIGHT_STATE_URL elsewhere",
          ];
  return new DagwrightError("E_ENV", `state store ${file} ${reason}`, { cause: error, hint });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
