import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type pg from "pg";
import { DagwrightError } from "../spec/errors.js";
import { requireOptional } from "../spec/optional-package.js";
import { type PreparedWrite, prepareWrites, unknownRunError } from "./attempt-writes.js";
import { GroupCommit } from "./group-commit.js";
import { PostgresAttemptWrites } from "./postgres-attempt-writes.js";
import { type PostgresMigration, postgresMigrations } from "./postgres-migrations.js";
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
  toRun,
  toTaskProcess,
  toTaskRun,
} from "./store-rows.js";

/**
 * node-postgres, an optional peer dependency: this module is imported only for a `postgres://`
 * state URL, and then tells the user to install it if it is missing.
 */
const driver = requireOptional<typeof pg>(
  "pg",
  "a PostgreSQL state store (DAGWRIGHT_STATE_URL=postgres://…)",
);

/** Arrays longer than this are stored as several `results` rows of this many items each. */
const DEFAULT_POLL_MS = 500;
const DEFAULT_RUNS_LIMIT = 100;
const DEFAULT_SCHEMA = "dagwright";
/** Row-lock waits longer than this become `E_ENV` (SQLite's busy timeout is 5 s). */
const LOCK_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** How long to wait for a lock holder to finish writing (or a dead one to vanish from) its row. */
const HOLDER_SETTLE_TRIES = 50;
const HOLDER_SETTLE_MS = 20;
const HINT = "upgrade dagwright, or point DAGWRIGHT_STATE_URL at another store";
const INT8_OID = 20;
/** Tries of a group commit that PostgreSQL aborted as a deadlock victim or serialization failure. */
const WRITE_TRIES = 3;
/** Rows per page of the read models (`taskItems`, `attemptsOfRun`) when the caller sets none. */
const DEFAULT_PAGE = 100;

/**
 * Opens the PostgreSQL state store at `url` (`postgres://user:password@host:port/database`) in
 * `options.schema` (default `"dagwright"`, created if missing), migrates it to the current schema
 * version and loads the file hash cache into memory.
 *
 * Migrations run in one transaction under `pg_advisory_xact_lock`, so any number of processes may
 * open a fresh database at once; an up-to-date schema is detected without taking that lock (and
 * without needing CREATE rights).
 *
 * Throws `DagwrightError("E_ENV")` when the server cannot be reached or rejects the login, or when
 * the schema was written by a newer dagwright; `E_USAGE` when `options.schema` is not a plain SQL
 * identifier. Messages show the URL with its password masked.
 */
export async function openPostgresStore(
  url: string,
  options: { schema?: string } = {},
): Promise<PostgresStateStore> {
  const store = new PostgresStateStore(url, options.schema ?? DEFAULT_SCHEMA);
  try {
    await store.migrate(postgresMigrations);
    await store.warm();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}

interface HeldLock {
  namespace: string;
  token: string;
  /** The session holding the advisory lock; when it dies, so does the lock. */
  session: pg.Client;
  holder: LockHolder;
}

type FileHash = FileHashRow;

/**
 * {@link StateStore} on a PostgreSQL database, for teams and rendered targets (Argo pods, BullMQ
 * workers on other machines) sharing one store. Same schema and semantics as the SQLite driver:
 * - `writeAttempts` commits the calls of one turn of the event loop in one transaction, entry by
 *   entry; a completion locks the task's `task_state` row (`SELECT … FOR UPDATE`) and records
 *   success only for the current, still running attempt.
 * - `acquireLock` takes a session advisory lock (`pg_try_advisory_lock`) on a connection of its
 *   own, so a holder that crashes or loses its connection frees the lock on every host; the
 *   holder's pid, host, command and start are kept in the `locks` table for messages. Needs a
 *   direct or session-pooled connection (not PgBouncer transaction pooling).
 * - `getFileHash` is synchronous, so the file hash cache lives in memory: loaded once when the
 *   store opens, updated by `putFileHashes`, which writes through to the database in the
 *   background, in order. {@link flushFileHashes} (and `close`) wait for those writes. Other
 *   processes see rows written before they opened the store; missing rows only cost a rehash.
 *
 * 64-bit columns (ids, epoch milliseconds, sizes) are read back as JS numbers.
 */
export class PostgresStateStore implements StateStore {
  /** The store's URL with the password masked; safe to print. */
  readonly displayUrl: string;
  /** The PostgreSQL schema holding the tables. */
  readonly schema: string;
  private readonly config: pg.ClientConfig;
  private readonly pool: pg.Pool;
  private readonly sql: ReturnType<typeof buildSql>;
  private readonly server: string;
  private readonly password: string;
  private readonly lockClass: string;
  private readonly heldLocks = new Map<string, HeldLock>();
  private lockSession: Promise<pg.Client> | undefined;
  private lockTries: Promise<unknown> = Promise.resolve();
  private readonly fileHashes = new Map<string, FileHash>();
  private fileHashWrites: Promise<void> = Promise.resolve();
  private fileHashError: unknown;
  private closed = false;
  private closing = false;
  /** Group commit of attempt writes (one transaction per turn of the event loop). */
  private readonly commits = new GroupCommit<PreparedWrite, AttemptWriteResult>((entries) =>
    this.commitWrites(entries),
  );
  private readonly writes: PostgresAttemptWrites;

  /** Prefer {@link openPostgresStore}, which also migrates and warms the cache. */
  constructor(url: string, schema: string) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema))
      throw new DagwrightError(
        "E_USAGE",
        `PostgreSQL state store schema "${schema}" is not a plain SQL identifier`,
        { hint: "use letters, digits and underscores, starting with a letter or underscore" },
      );
    const parts = describeUrl(url);
    this.displayUrl = parts.display;
    this.server = parts.server;
    this.password = parts.password;
    this.schema = schema;
    this.lockClass = `dagwright:${schema}`;
    this.config = {
      connectionString: url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      lock_timeout: LOCK_TIMEOUT_MS,
      keepAlive: true,
      fallback_application_name: "dagwright",
      types: { getTypeParser: typeParser },
    };
    this.pool = new driver.Pool({ ...this.config, max: 10 });
    // An idle connection that dies (server restart, pg_terminate_backend) is dropped by the pool;
    // the next query opens a new one. Without a listener the 'error' event would crash the process.
    this.pool.on("error", () => {});
    this.sql = buildSql(`"${schema}"`);
    this.writes = new PostgresAttemptWrites(this.sql, this.lockClass);
  }

  /**
   * Brings the schema to the last migration. Fast path: one read when it is already current.
   * Otherwise one transaction under an advisory lock that re-reads the version, so concurrent
   * openers migrate exactly once. @internal Called by {@link openPostgresStore}.
   */
  async migrate(migrations: readonly PostgresMigration[]): Promise<void> {
    const known = migrations.at(-1)?.version ?? 0;
    const current = await this.guard(() => this.schemaVersion(this.pool));
    this.refuseNewer(current, known);
    if (current === known) return;
    await this.transaction(async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('dagwright'), hashtext($1))", [
        `migrate:${this.schema}`,
      ]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(`SET LOCAL search_path TO "${this.schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS dagwright_schema_version (
           version     integer PRIMARY KEY,
           description text NOT NULL,
           applied_at  timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const found = await this.schemaVersion(client);
      this.refuseNewer(found, known);
      for (const m of migrations) {
        if (m.version <= found) continue;
        await client.query(m.sql);
        await client.query(
          "INSERT INTO dagwright_schema_version (version, description) VALUES ($1, $2)",
          [m.version, m.description],
        );
      }
    });
  }

  /** Loads the file hash cache into memory. @internal Called by {@link openPostgresStore}. */
  async warm(): Promise<void> {
    const { rows } = await this.guard(() =>
      this.pool.query<{
        path: string;
        size: number;
        mtime_ms: number;
        ctime_ms: number;
        ino: number;
        hashed_at_ms: number;
        hash: string;
      }>(this.sql.allFileHashes),
    );
    for (const r of rows)
      this.fileHashes.set(r.path, {
        size: r.size,
        mtimeMs: r.mtime_ms,
        ctimeMs: r.ctime_ms,
        ino: r.ino,
        hashedAtMs: r.hashed_at_ms,
        hash: r.hash,
      });
  }

  async beginRun(r: {
    namespace: string;
    graph: string;
    branch: string;
    command: string;
  }): Promise<string> {
    const runId = randomUUID();
    await this.query(this.sql.insertRun, [
      runId,
      r.namespace,
      r.graph,
      r.branch,
      r.command,
      Date.now(),
      process.pid,
      hostname(),
    ]);
    return runId;
  }

  async endRun(runId: string, status: RunRecord["status"]): Promise<void> {
    await this.query(this.sql.endRun, [runId, status, Date.now()]);
  }

  async writeAttempts(
    writes: readonly AttemptWrite[],
    opts: { lockToken?: string } = {},
  ): Promise<AttemptWriteResult[]> {
    const entries = prepareWrites(writes, opts.lockToken);
    try {
      return await this.commits.submit(entries);
    } catch (error) {
      throw unknownRunError(error, pgCode(error) === "23503", writes, this.where());
    }
  }

  /**
   * One group commit: the entries in order inside one transaction, retried whole when PostgreSQL
   * picks it as a deadlock victim (two batches locking the same task/item pointers in another
   * order) or fails its serialization.
   */
  private async commitWrites(entries: readonly PreparedWrite[]): Promise<AttemptWriteResult[]> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.transaction(async (client) => {
          const results: AttemptWriteResult[] = [];
          for (const e of entries) results.push(await this.writes.apply(client, e));
          return results;
        });
      } catch (error) {
        const code = pgCode(error);
        if (tries >= WRITE_TRIES || (code !== "40P01" && code !== "40001")) throw error;
      }
    }
  }

  async lastAttempt(
    namespace: string,
    task: string,
    item = "",
  ): Promise<TaskRunRecord | undefined> {
    const { rows } = await this.query<AttemptRow<OutputTuple[]>>(this.sql.lastAttempt, [
      namespace,
      task,
      item,
    ]);
    return rows[0] && toTaskRun(rows[0], rows[0].outputs_json);
  }

  async lastSuccess(
    namespace: string,
    task: string,
    item = "",
  ): Promise<TaskRunRecord | undefined> {
    const { rows } = await this.query<AttemptRow<OutputTuple[]>>(this.sql.lastSuccess, [
      namespace,
      task,
      item,
    ]);
    return rows[0] && toTaskRun(rows[0], rows[0].outputs_json);
  }

  async itemStates(
    namespace: string,
    task: string,
    items?: readonly string[],
  ): Promise<Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>> {
    const { rows } = await this.query<
      AttemptRow<OutputTuple[]> & { current_attempt: number; last_success: number | null }
    >(
      items === undefined ? this.sql.itemStates : this.sql.itemStatesOf,
      items === undefined ? [namespace, task] : [namespace, task, items],
    );
    const states = new Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>();
    for (const row of rows) {
      const record = toTaskRun(row, row.outputs_json);
      const state = states.get(row.item) ?? {};
      if (row.attempt_id === row.current_attempt) state.lastAttempt = record;
      if (row.attempt_id === row.last_success) state.lastSuccess = record;
      states.set(row.item, state);
    }
    return states;
  }

  async taskItems(
    namespace: string,
    task: string,
    page: { after?: string; limit?: number } = {},
  ): Promise<ItemState[]> {
    const { rows } = await this.query<
      AttemptRow<OutputTuple[]> & { current_attempt: number; last_success: number | null }
    >(this.sql.taskItems, [namespace, task, page.after ?? "", page.limit ?? DEFAULT_PAGE]);
    const items: ItemState[] = [];
    for (const row of rows) {
      let state = items.at(-1);
      if (state?.item !== row.item) {
        state = { item: row.item };
        items.push(state);
      }
      const record = toTaskRun(row, row.outputs_json);
      if (row.attempt_id === row.current_attempt) state.lastAttempt = record;
      if (row.attempt_id === row.last_success) state.lastSuccess = record;
    }
    return items;
  }

  async attemptsOfRun(
    runId: string,
    page: { after?: number; limit?: number } = {},
  ): Promise<TaskRunRecord[]> {
    const { rows } = await this.query<AttemptRow<OutputTuple[]>>(this.sql.attemptsOfRun, [
      runId,
      page.after ?? 0,
      page.limit ?? DEFAULT_PAGE,
    ]);
    return rows.map((row) => toTaskRun(row, row.outputs_json));
  }

  async attempt(attemptId: number): Promise<TaskRunRecord | undefined> {
    const { rows } = await this.query<AttemptRow<OutputTuple[]>>(this.sql.attempt, [attemptId]);
    return rows[0] && toTaskRun(rows[0], rows[0].outputs_json);
  }

  async runningAttempts(namespace: string): Promise<TaskRunRecord[]> {
    const { rows } = await this.query<AttemptRow<OutputTuple[]>>(this.sql.runningAttempts, [
      namespace,
    ]);
    return rows.map((row) => toTaskRun(row, row.outputs_json));
  }

  async taskStates(
    namespace: string,
    tasks: readonly string[],
  ): Promise<Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>> {
    const states = new Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>();
    if (tasks.length === 0) return states;
    const { rows } = await this.query<
      AttemptRow<OutputTuple[]> & { current_attempt: number; last_success: number | null }
    >(this.sql.taskStates, [namespace, [...tasks]]);
    for (const row of rows) {
      const record = toTaskRun(row, row.outputs_json);
      const state = states.get(row.task) ?? {};
      if (row.attempt_id === row.current_attempt) state.lastAttempt = record;
      if (row.attempt_id === row.last_success) state.lastSuccess = record;
      states.set(row.task, state);
    }
    return states;
  }

  async result(namespace: string, task: string, item = ""): Promise<unknown> {
    // One statement, one snapshot: a newer success cannot swap the shards between two reads.
    const { rows } = await this.query<{ result_kind: "value" | "array" | null; json: string }>(
      this.sql.result,
      [namespace, task, item],
    );
    const kind = rows[0]?.result_kind ?? null;
    if (kind === null) return undefined;
    if (kind === "value") return JSON.parse(rows[0]?.json ?? "null") as unknown;
    const items: unknown[] = [];
    for (const row of rows) for (const x of JSON.parse(row.json) as unknown[]) items.push(x);
    return items;
  }

  async runs(namespace?: string, limit = DEFAULT_RUNS_LIMIT): Promise<RunRecord[]> {
    const { rows } =
      namespace === undefined
        ? await this.query<RunRow>(this.sql.runsAll, [limit])
        : await this.query<RunRow>(this.sql.runsOfNamespace, [namespace, limit]);
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
      // One try at a time per store: advisory locks are re-entrant within a session, so two
      // overlapping tries for one namespace would both succeed.
      const attempt = await this.guard(() => {
        const next = this.lockTries.then(() => this.tryLock(namespace, holder.command));
        this.lockTries = next.catch(() => {});
        return next;
      });
      if ("held" in attempt) {
        const held = attempt.held;
        const release = async (): Promise<void> => {
          if (this.heldLocks.get(namespace) !== held) return;
          this.heldLocks.delete(namespace);
          if (this.closed) return;
          await this.guard(() => this.unlock(held));
        };
        return { acquired: true, token: held.token, release };
      }
      if (!opts.wait) return { acquired: false, holder: attempt.holder };
      if (!waiting) {
        waiting = true;
        opts.onWait?.(attempt.holder);
      }
      await sleep(opts.pollMs ?? DEFAULT_POLL_MS);
    }
  }

  getFileHash(path: string): FileHash | undefined {
    this.assertOpen();
    const row = this.fileHashes.get(path);
    return row && { ...row };
  }

  putFileHashes(rows: (FileHash & { path: string })[]): void {
    this.assertOpen();
    if (rows.length === 0) return;
    const latest = new Map<string, FileHash>();
    for (const { path, ...row } of rows) latest.set(path, row);
    for (const [path, row] of latest) this.fileHashes.set(path, row);
    const batch = [...latest];
    // Chained, so writes reach the database in call order; one statement, so one transaction.
    // Not guarded by `closed`: close() flushes these before ending the pool.
    this.fileHashWrites = this.fileHashWrites.then(() =>
      this.pool
        .query(this.sql.putFileHashes, [
          batch.map(([path]) => path),
          batch.map(([, r]) => r.size),
          batch.map(([, r]) => r.mtimeMs),
          batch.map(([, r]) => r.ctimeMs),
          batch.map(([, r]) => r.ino),
          batch.map(([, r]) => r.hashedAtMs),
          batch.map(([, r]) => r.hash),
        ])
        .then(
          () => {},
          (error: unknown) => {
            this.fileHashError ??= this.envError(error);
          },
        ),
    );
  }

  /**
   * Waits until every `putFileHashes` so far is written. Rejects with the first write failure
   * since the last flush (the in-memory cache keeps the rows either way).
   */
  async flushFileHashes(): Promise<void> {
    await this.fileHashWrites;
    const error = this.fileHashError;
    this.fileHashError = undefined;
    if (error !== undefined) throw error;
  }

  async countTaskRecords(namespace: string, atMost?: number): Promise<number> {
    const { rows } = await this.query<{ n: number }>(this.sql.countTaskRecords, [
      namespace,
      atMost ?? null,
    ]);
    return rows[0]?.n ?? 0;
  }

  /**
   * One REPEATABLE READ transaction, so every statement copies the same snapshot of `from` while
   * its own runner goes on writing. A runner without the lock (run-task) that writes a task record
   * of `to` meanwhile makes the copy fail to serialize: `to` has state of its own then, so 0.
   */
  async copyNamespace(from: string, to: string, lockToken: string): Promise<number> {
    // A writer that skips the lock (a pod's run-task) may race the snapshot: that attempt fails
    // to serialize, and a fresh snapshot is taken; the copy itself skips a branch with state.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transaction(
          (client) => this.copyIn(client, from, to, lockToken),
          "BEGIN ISOLATION LEVEL REPEATABLE READ",
        );
      } catch (error) {
        if (pgCode(error) !== "40001") throw error;
        if (attempt >= 3) return 0;
      }
    }
  }

  /** {@link copyNamespace}'s work: temp tables map the picked attempts and runs to new ids. */
  private async copyIn(
    client: pg.PoolClient,
    from: string,
    to: string,
    lockToken: string,
  ): Promise<number> {
    const held = (
      await client.query<{ held: boolean }>(this.sql.holdsLock, [this.lockClass, to, lockToken])
    ).rows[0]?.held;
    if (held !== true) return 0;
    const has = (await client.query<{ n: number }>(this.sql.countTaskRecords, [to, 1])).rows[0];
    if ((has?.n ?? 0) > 0) return 0;
    await client.query(this.sql.copyTables);
    await client.query(this.sql.pickAttempts, [from]);
    const runs = (await client.query<{ run_id: string }>(this.sql.pickedRuns)).rows.map(
      (r) => r.run_id,
    );
    await client.query(this.sql.mapRuns, [runs, runs.map(() => randomUUID())]);
    await client.query(this.sql.copyRuns, [to]);
    await client.query(this.sql.copyAttempts, [to]);
    await client.query(this.sql.copyOutputs);
    await client.query(this.sql.copyShards);
    return (await client.query(this.sql.copyTaskState, [from, to])).rowCount ?? 0;
  }

  async updateTaskProcesses(change: {
    started?: readonly TaskProcessRecord[];
    ended?: readonly TaskProcessKey[];
  }): Promise<void> {
    // One row per host and pid (the last wins): ON CONFLICT cannot touch a row twice.
    const started = [
      ...new Map((change.started ?? []).map((p) => [`${p.host}\0${p.pid}`, p])).values(),
    ];
    const ended = change.ended ?? [];
    if (started.length === 0 && ended.length === 0) return;
    const put = [
      started.map((p) => p.host),
      started.map((p) => p.pid),
      started.map((p) => p.startMarker),
      started.map((p) => p.namespace),
      started.map((p) => p.task),
      started.map((p) => p.item),
      started.map((p) => p.pgid),
      started.map((p) => p.runnerPid),
      started.map((p) => p.runnerMarker),
      started.map((p) => p.since),
    ];
    const drop = [
      ended.map((k) => k.host),
      ended.map((k) => k.pid),
      ended.map((k) => k.startMarker),
    ];
    if (ended.length === 0) {
      await this.query(this.sql.putTaskProcesses, put);
      return;
    }
    if (started.length === 0) {
      await this.query(this.sql.deleteTaskProcesses, drop);
      return;
    }
    await this.transaction(async (client) => {
      await client.query(this.sql.putTaskProcesses, put);
      await client.query(this.sql.deleteTaskProcesses, drop);
    });
  }

  async taskProcesses(namespace: string, host: string): Promise<TaskProcessRecord[]> {
    const { rows } = await this.query<TaskProcessRow>(this.sql.taskProcesses, [namespace, host]);
    return rows.map(toTaskProcess);
  }

  async namespaces(): Promise<{ namespace: string; tasks: number; lastRun?: number }[]> {
    const { rows } = await this.query<{
      namespace: string;
      tasks: number;
      last_run: number | null;
    }>(this.sql.namespaces, []);
    return rows.map((r) =>
      r.last_run === null
        ? { namespace: r.namespace, tasks: r.tasks }
        : { namespace: r.namespace, tasks: r.tasks, lastRun: r.last_run },
    );
  }

  /**
   * Writes pending file hashes, releases this store's locks and ends its connections. Idempotent.
   * Rejects (after closing everything) when the pending file hash writes failed.
   */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    let failure: unknown;
    // Attempt writes queued for the next group commit go in before the pool closes.
    await this.commits.drain();
    this.closed = true;
    try {
      await this.flushFileHashes();
    } catch (error) {
      failure = error;
    }
    const held = [...this.heldLocks.values()];
    this.heldLocks.clear();
    for (const lock of held) await this.unlock(lock).catch(() => {});
    const session = this.lockSession;
    this.lockSession = undefined;
    // Ending the session frees any advisory lock left, even if the unlock above failed.
    if (session !== undefined) await session.then((s) => s.end()).catch(() => {});
    await this.pool.end().catch(() => {});
    if (failure !== undefined) throw failure;
  }

  /**
   * Takes the namespace's advisory lock and writes the holder row in one statement, or reports
   * the holder. A failed try with no live holder row means a holder is between taking the lock
   * and committing its row (or a dead one's session is ending): look again shortly.
   */
  private async tryLock(
    namespace: string,
    command: string,
  ): Promise<{ held: HeldLock } | { holder: LockHolder }> {
    const mine = this.heldLocks.get(namespace);
    if (mine !== undefined) return { holder: mine.holder };
    const session = await this.session();
    const token = randomUUID();
    const holder: LockHolder = { pid: process.pid, host: hostname(), command, since: Date.now() };
    let seen: LockHolder | undefined;
    for (let i = 0; i < HOLDER_SETTLE_TRIES; i++) {
      const taken = await session
        .query(this.sql.tryLock, [
          this.lockClass,
          namespace,
          token,
          holder.pid,
          holder.host,
          holder.command,
          holder.since,
        ])
        .catch(async (error: unknown) => {
          // A session-level advisory lock outlives a failed statement; do not keep it unrecorded.
          await session
            .query("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", [
              this.lockClass,
              namespace,
            ])
            .catch(() => {});
          throw error;
        });
      if (taken.rowCount === 1) {
        const held: HeldLock = { namespace, token, session, holder };
        this.heldLocks.set(namespace, held);
        return { held };
      }
      const row = (
        await this.pool.query<LockHolder & { live: boolean }>(this.sql.lockHolder, [
          this.lockClass,
          namespace,
        ])
      ).rows[0];
      if (row !== undefined) seen = toHolder(row);
      if (row?.live === true) return { holder: toHolder(row) };
      await sleep(HOLDER_SETTLE_MS);
    }
    // A holder that never wrote a row: another session holds the same advisory key (a hash
    // collision of two namespace names, or a tool other than dagwright).
    return {
      holder: seen ?? {
        pid: 0,
        host: "unknown",
        command: `a PostgreSQL session holding advisory lock (hashtext('${this.lockClass}'), hashtext('${namespace}'))`,
        since: Date.now(),
      },
    };
  }

  private async unlock(lock: HeldLock): Promise<void> {
    // The token check keeps a late release from deleting the row of whoever took over.
    await this.pool.query(this.sql.deleteLock, [lock.namespace, lock.token]);
    if (lock.session !== (await this.lockSession?.catch(() => undefined))) return;
    try {
      await lock.session.query("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", [
        this.lockClass,
        lock.namespace,
      ]);
    } catch (error) {
      // A session that is gone took its advisory locks with it: nothing left to release.
      if (!isConnectionFailure(error)) throw error;
    }
  }

  /** The connection holding this store's advisory locks, opened on first use. */
  private session(): Promise<pg.Client> {
    if (this.lockSession !== undefined) return this.lockSession;
    const client = new driver.Client(this.config);
    const opening = client.connect().then(
      () => client,
      (error: unknown) => {
        if (this.lockSession === opening) this.lockSession = undefined;
        throw error;
      },
    );
    // The session died: its advisory locks are gone server-side, so forget them here too.
    const lost = (): void => {
      if (this.lockSession === opening) this.lockSession = undefined;
      for (const [namespace, held] of this.heldLocks)
        if (held.session === client) this.heldLocks.delete(namespace);
    };
    client.on("error", lost);
    client.on("end", lost);
    this.lockSession = opening;
    return opening;
  }

  private async schemaVersion(q: pg.Pool | pg.PoolClient): Promise<number> {
    const table = `"${this.schema}".dagwright_schema_version`;
    const exists = await q.query<{ found: string | null }>(
      "SELECT to_regclass($1)::text AS found",
      [table],
    );
    if ((exists.rows[0]?.found ?? null) === null) return 0;
    const found = await q.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${table}`,
    );
    return found.rows[0]?.version ?? 0;
  }

  private refuseNewer(found: number, known: number): void {
    if (found > known)
      throw new DagwrightError(
        "E_ENV",
        `${this.where()}: the state store was written by a newer dagwright (schema v${found}, this one knows v${known}); refusing to open it`,
        { hint: HINT },
      );
  }

  private query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.guard(() => this.pool.query<R>(text, values));
  }

  /** `begin` … COMMIT on one pooled connection; rolls back when `fn` throws. */
  private transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, begin = "BEGIN"): Promise<T> {
    return this.guard(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query(begin);
        const value = await fn(client);
        await client.query("COMMIT");
        return value;
      } catch (error) {
        await client.query("ROLLBACK").catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        throw error;
      } finally {
        // Passing an error discards the connection instead of returning it to the pool.
        client.release(broken);
      }
    });
  }

  /** Rejects after close, and turns connection and lock-timeout failures into `E_ENV`. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await fn();
    } catch (error) {
      throw this.envError(error);
    }
  }

  private assertOpen(): void {
    if (this.closed)
      throw new DagwrightError("E_INTERNAL", `state store ${this.where()} is already closed`);
  }

  private envError(error: unknown): unknown {
    if (error instanceof DagwrightError) return error;
    const code = pgCode(error);
    const reason = this.scrub(error instanceof Error ? error.message : String(error));
    if (code === "55P03")
      return new DagwrightError(
        "E_ENV",
        `${this.where()}: the state store stayed locked by another process for more than ${LOCK_TIMEOUT_MS / 1000} s`,
        { cause: error, hint: "wait for the other dagwright command to finish, then retry" },
      );
    if (code?.startsWith("28"))
      return new DagwrightError(
        "E_ENV",
        `${this.where()}: PostgreSQL at ${this.server} rejected the login (${reason})`,
        { cause: error, hint: "check the user and password in DAGWRIGHT_STATE_URL" },
      );
    if (code === "3D000")
      return new DagwrightError("E_ENV", `${this.where()}: ${reason} at ${this.server}`, {
        cause: error,
        hint: "create the database (createdb), or fix the database name in DAGWRIGHT_STATE_URL",
      });
    if (isConnectionFailure(error))
      return new DagwrightError(
        "E_ENV",
        `${this.where()}: cannot reach PostgreSQL at ${this.server} (${reason})`,
        {
          cause: error,
          hint: "start PostgreSQL there, or fix the host and port in DAGWRIGHT_STATE_URL",
        },
      );
    return error;
  }

  /** Where, for messages: the masked URL and the schema. */
  private where(): string {
    return `${this.displayUrl} (schema ${this.schema})`;
  }

  private scrub(text: string): string {
    return this.password.length >= 4 ? text.replaceAll(this.password, "***") : text;
  }
}

/** The PostgreSQL driver's statements for one schema (see {@link buildSql}). */
export type PostgresSql = ReturnType<typeof buildSql>;

/** SQL for one schema. `s` is the quoted schema name. Parameters are positional ($1…). */
function buildSql(s: string) {
  return {
    ...runSql(s),
    ...attemptWriteSql(s),
    ...readSql(s),
    ...lockSql(s),
    ...fileHashSql(s),
    ...copySql(s),
    ...taskProcessSql(s),
  };
}

/** SQL on runs: their start, end and listings, and the namespaces they name. */
function runSql(s: string) {
  const runColumns = "run_id, namespace, graph, branch, status, started_at, ended_at, pid";
  return {
    insertRun: `INSERT INTO ${s}.runs
        (run_id, namespace, graph, branch, command, status, started_at, pid, host)
      VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8)`,
    endRun: `UPDATE ${s}.runs SET status = $2, ended_at = $3 WHERE run_id = $1`,
    runsAll: `SELECT ${runColumns} FROM ${s}.runs ORDER BY started_at DESC, seq DESC LIMIT $1`,
    runsOfNamespace: `SELECT ${runColumns} FROM ${s}.runs WHERE namespace = $1
      ORDER BY started_at DESC, seq DESC LIMIT $2`,
    namespaces: `SELECT ns.namespace,
        (SELECT count(DISTINCT task) FROM ${s}.task_state s WHERE s.namespace = ns.namespace) AS tasks,
        (SELECT max(started_at) FROM ${s}.runs r WHERE r.namespace = ns.namespace) AS last_run
      FROM (SELECT namespace FROM ${s}.task_state UNION SELECT namespace FROM ${s}.runs) ns
      ORDER BY ns.namespace COLLATE "C"`,
  };
}

/** SQL that begins and ends attempts and moves their tasks' and items' pointers. */
function attemptWriteSql(s: string) {
  return {
    beginAttempt: `WITH a AS (
        INSERT INTO ${s}.attempts
          (run_id, namespace, task, item, status, fingerprint, parts, started_at, log_path, worker)
        VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9)
        RETURNING attempt_id, namespace, task, item)
      INSERT INTO ${s}.task_state (namespace, task, item, current_attempt)
      SELECT namespace, task, item, attempt_id FROM a
      ON CONFLICT (namespace, task, item) DO UPDATE SET current_attempt = excluded.current_attempt
      RETURNING current_attempt`,
    insertAttempt: `INSERT INTO ${s}.attempts
        (run_id, namespace, task, item, status, fingerprint, parts, started_at, log_path, worker)
      VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9)
      RETURNING attempt_id`,
    deleteAttempt: `DELETE FROM ${s}.attempts WHERE attempt_id = $1`,
    createPointer: `INSERT INTO ${s}.task_state (namespace, task, item, current_attempt)
      VALUES ($1, $2, $3, $4) ON CONFLICT (namespace, task, item) DO NOTHING`,
    lockPointer: `SELECT current_attempt FROM ${s}.task_state
      WHERE namespace = $1 AND task = $2 AND item = $3 FOR UPDATE`,
    startedAt: `SELECT started_at FROM ${s}.attempts WHERE attempt_id = $1`,
    setPointer: `UPDATE ${s}.task_state SET current_attempt = $4
      WHERE namespace = $1 AND task = $2 AND item = $3`,
    lockPointerOfAttempt: `SELECT s.namespace, s.task, s.item, s.current_attempt, s.last_success
      FROM ${s}.attempts a
      JOIN ${s}.task_state s ON s.namespace = a.namespace AND s.task = a.task AND s.item = a.item
      WHERE a.attempt_id = $1
      FOR UPDATE OF s`,
    pointerOfAttempt: `SELECT s.current_attempt FROM ${s}.attempts a
      JOIN ${s}.task_state s ON s.namespace = a.namespace AND s.task = a.task AND s.item = a.item
      WHERE a.attempt_id = $1`,
    markSucceeded: `UPDATE ${s}.attempts SET status = 'succeeded', ended_at = $2, duration_ms = $3,
        exit_code = $4, peak_rss_kb = $5, cpu_ms = $6, result_hash = $7, result_kind = $8
      WHERE attempt_id = $1 AND status = 'running'`,
    markFailed: `UPDATE ${s}.attempts SET status = $2, ended_at = $3, duration_ms = $4,
        exit_code = $5, signal = $6, error = $7, peak_rss_kb = $8, cpu_ms = $9
      WHERE attempt_id = $1 AND status = 'running'`,
    insertOutputs: `INSERT INTO ${s}.outputs (attempt_id, path, hash, size, mtime_ms)
      SELECT $1, o.path, o.hash, o.size, o.mtime_ms
      FROM unnest($2::text[], $3::text[], $4::bigint[], $5::double precision[])
        AS o (path, hash, size, mtime_ms)`,
    insertShards: `INSERT INTO ${s}.results (attempt_id, shard_no, json)
      SELECT $1, r.ord - 1, r.json FROM unnest($2::text[]) WITH ORDINALITY AS r (json, ord)`,
    deleteShards: `DELETE FROM ${s}.results WHERE attempt_id = $1`,
    setLastSuccess: `UPDATE ${s}.task_state SET last_success = current_attempt
      WHERE namespace = $1 AND task = $2 AND item = $3`,
  };
}

/** SQL that reads attempts: tasks' and items' current ones and last successes, by id or run, and results. */
function readSql(s: string) {
  const attemptColumns = `a.attempt_id, a.run_id, a.namespace, a.task, a.item, a.status,
    a.fingerprint, a.parts, a.started_at, a.ended_at, a.duration_ms, a.exit_code, a.signal,
    a.peak_rss_kb, a.cpu_ms, a.log_path, a.error, a.result_hash, a.result_kind, a.worker,
    COALESCE((SELECT json_agg(json_build_array(o.path, o.hash, o.size, o.mtime_ms)
                              ORDER BY o.path COLLATE "C")
                FROM ${s}.outputs o WHERE o.attempt_id = a.attempt_id), '[]'::json) AS outputs_json`;
  const key = "s.namespace = $1 AND s.task = $2 AND s.item = $3";
  return {
    lastAttempt: `SELECT ${attemptColumns} FROM ${s}.task_state s
      JOIN ${s}.attempts a ON a.attempt_id = s.current_attempt WHERE ${key}`,
    lastSuccess: `SELECT ${attemptColumns} FROM ${s}.task_state s
      JOIN ${s}.attempts a ON a.attempt_id = s.last_success WHERE ${key}`,
    itemStates: `SELECT s.current_attempt, s.last_success, ${attemptColumns}
      FROM ${s}.task_state s
      JOIN ${s}.attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
      WHERE s.namespace = $1 AND s.task = $2 AND s.item <> ''`,
    itemStatesOf: `SELECT s.current_attempt, s.last_success, ${attemptColumns}
      FROM ${s}.task_state s
      JOIN ${s}.attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
      WHERE s.namespace = $1 AND s.task = $2 AND s.item <> '' AND s.item = ANY ($3::text[])`,
    taskStates: `SELECT s.current_attempt, s.last_success, ${attemptColumns}
      FROM ${s}.task_state s
      JOIN ${s}.attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
      WHERE s.namespace = $1 AND s.item = '' AND s.task = ANY ($2::text[])`,
    // Items in code-point order (COLLATE "C"), as SQLite compares them.
    taskItems: `SELECT s.current_attempt, s.last_success, ${attemptColumns}
      FROM (SELECT * FROM ${s}.task_state
            WHERE namespace = $1 AND task = $2 AND item COLLATE "C" > $3
            ORDER BY item COLLATE "C" LIMIT $4) s
      JOIN ${s}.attempts a ON a.attempt_id = s.current_attempt OR a.attempt_id = s.last_success
      ORDER BY s.item COLLATE "C"`,
    attemptsOfRun: `SELECT ${attemptColumns} FROM ${s}.attempts a
      WHERE a.run_id = $1 AND a.attempt_id > $2 ORDER BY a.attempt_id LIMIT $3`,
    attempt: `SELECT ${attemptColumns} FROM ${s}.attempts a WHERE a.attempt_id = $1`,
    runningAttempts: `SELECT ${attemptColumns} FROM ${s}.task_state s
      JOIN ${s}.attempts a ON a.attempt_id = s.current_attempt
      WHERE s.namespace = $1 AND a.status = 'running'
      ORDER BY s.task COLLATE "C", s.item COLLATE "C"`,
    result: `SELECT a.result_kind, r.json FROM ${s}.task_state s
      JOIN ${s}.attempts a ON a.attempt_id = s.last_success
      LEFT JOIN ${s}.results r ON r.attempt_id = a.attempt_id
      WHERE ${key}
      ORDER BY r.shard_no`,
  };
}

/** SQL on namespaces' locks (advisory locks, with a row naming the holder). */
function lockSql(s: string) {
  return {
    // Whether the token's holder still holds the namespace's lock; FOR SHARE makes a takeover
    // (which rewrites the row) wait until the caller's transaction ends.
    holdsLock: `SELECT l.token = $3 AND EXISTS (
        SELECT 1 FROM pg_locks p
        WHERE p.locktype = 'advisory' AND p.granted AND p.pid = l.backend_pid
          AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND p.classid = hashtext($1)::oid AND p.objid = hashtext($2)::oid AND p.objsubid = 2
      ) AS held
      FROM ${s}.locks l WHERE l.namespace = $2 FOR SHARE OF l`,
    tryLock: `WITH got AS (SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok)
      INSERT INTO ${s}.locks (namespace, token, pid, host, command, since, backend_pid)
      SELECT $2, $3, $4, $5, $6, $7, pg_backend_pid() FROM got WHERE got.ok
      ON CONFLICT (namespace) DO UPDATE SET token = excluded.token, pid = excluded.pid,
        host = excluded.host, command = excluded.command, since = excluded.since,
        backend_pid = excluded.backend_pid
      RETURNING token`,
    // live: the row's session still holds the namespace's advisory lock (else it is left over).
    lockHolder: `SELECT l.pid, l.host, l.command, l.since, EXISTS (
        SELECT 1 FROM pg_locks p
        WHERE p.locktype = 'advisory' AND p.granted AND p.pid = l.backend_pid
          AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND p.classid = hashtext($1)::oid AND p.objid = hashtext($2)::oid AND p.objsubid = 2
      ) AS live
      FROM ${s}.locks l WHERE l.namespace = $2`,
    deleteLock: `DELETE FROM ${s}.locks WHERE namespace = $1 AND token = $2`,
  };
}

/** SQL on the cache of file hashes. */
function fileHashSql(s: string) {
  return {
    allFileHashes: `SELECT path, size, mtime_ms, ctime_ms, ino, hashed_at_ms, hash
      FROM ${s}.file_hashes`,
    putFileHashes: `INSERT INTO ${s}.file_hashes
        (path, size, mtime_ms, ctime_ms, ino, hashed_at_ms, hash)
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::double precision[],
        $4::double precision[], $5::double precision[], $6::double precision[], $7::text[])
      ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ms = excluded.mtime_ms,
        ctime_ms = excluded.ctime_ms, ino = excluded.ino, hashed_at_ms = excluded.hashed_at_ms,
        hash = excluded.hash`,
  };
}

/** SQL that copies one namespace's state into another. */
function copySql(s: string) {
  return {
    // LIMIT NULL: no limit.
    countTaskRecords: `SELECT count(*) AS n FROM (
        SELECT 1 FROM ${s}.task_state WHERE namespace = $1 LIMIT $2) x`,
    // copyNamespace's scratch: old attempt and run ids → their copies' ids, gone at commit.
    copyTables: `
      CREATE TEMP TABLE copy_attempts (old_id bigint PRIMARY KEY, new_id bigint NOT NULL)
        ON COMMIT DROP;
      CREATE TEMP TABLE copy_runs (old_id text PRIMARY KEY, new_id text NOT NULL) ON COMMIT DROP`,
    pickAttempts: `INSERT INTO pg_temp.copy_attempts (old_id, new_id)
      SELECT attempt_id, nextval(pg_get_serial_sequence('${s}.attempts', 'attempt_id'))
      FROM (SELECT attempt_id FROM ${s}.attempts
            WHERE attempt_id IN (SELECT current_attempt FROM ${s}.task_state WHERE namespace = $1
                                 UNION SELECT last_success FROM ${s}.task_state WHERE namespace = $1)
            ORDER BY attempt_id) picked`,
    pickedRuns: `SELECT DISTINCT a.run_id FROM pg_temp.copy_attempts c
      JOIN ${s}.attempts a ON a.attempt_id = c.old_id`,
    mapRuns: `INSERT INTO pg_temp.copy_runs (old_id, new_id)
      SELECT * FROM unnest($1::text[], $2::text[])`,
    copyRuns: `INSERT INTO ${s}.runs
        (run_id, namespace, graph, branch, command, status, started_at, ended_at, pid, host)
      SELECT m.new_id, $1, r.graph, r.branch, r.command, r.status, r.started_at, r.ended_at,
        r.pid, r.host
      FROM pg_temp.copy_runs m JOIN ${s}.runs r ON r.run_id = m.old_id
      ORDER BY r.seq`,
    copyAttempts: `INSERT INTO ${s}.attempts (attempt_id, run_id, namespace, task, item, status,
        fingerprint, parts, started_at, ended_at, duration_ms, exit_code, signal, peak_rss_kb,
        cpu_ms, log_path, error, result_hash, result_kind, worker)
      OVERRIDING SYSTEM VALUE
      SELECT c.new_id, m.new_id, $1, a.task, a.item, a.status, a.fingerprint, a.parts,
        a.started_at, a.ended_at, a.duration_ms, a.exit_code, a.signal, a.peak_rss_kb, a.cpu_ms,
        a.log_path, a.error, a.result_hash, a.result_kind, a.worker
      FROM pg_temp.copy_attempts c
      JOIN ${s}.attempts a ON a.attempt_id = c.old_id
      JOIN pg_temp.copy_runs m ON m.old_id = a.run_id`,
    copyOutputs: `INSERT INTO ${s}.outputs (attempt_id, path, hash, size, mtime_ms)
      SELECT c.new_id, o.path, o.hash, o.size, o.mtime_ms
      FROM pg_temp.copy_attempts c JOIN ${s}.outputs o ON o.attempt_id = c.old_id`,
    copyShards: `INSERT INTO ${s}.results (attempt_id, shard_no, json)
      SELECT c.new_id, r.shard_no, r.json
      FROM pg_temp.copy_attempts c JOIN ${s}.results r ON r.attempt_id = c.old_id`,
    copyTaskState: `INSERT INTO ${s}.task_state (namespace, task, item, current_attempt, last_success)
      SELECT $2, st.task, st.item, cur.new_id, suc.new_id FROM ${s}.task_state st
      JOIN pg_temp.copy_attempts cur ON cur.old_id = st.current_attempt
      LEFT JOIN pg_temp.copy_attempts suc ON suc.old_id = st.last_success
      WHERE st.namespace = $1
      ON CONFLICT (namespace, task, item) DO NOTHING`,
  };
}

/** SQL on the task processes recorded for cleanup. */
function taskProcessSql(s: string) {
  return {
    putTaskProcesses: `INSERT INTO ${s}.task_processes (${TASK_PROCESS_COLUMNS})
      SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::integer[], $8::integer[], $9::text[], $10::bigint[])
      ON CONFLICT (host, pid) DO UPDATE SET start_marker = excluded.start_marker,
        namespace = excluded.namespace, task = excluded.task, item = excluded.item,
        pgid = excluded.pgid, runner_pid = excluded.runner_pid,
        runner_marker = excluded.runner_marker, since = excluded.since`,
    deleteTaskProcesses: `DELETE FROM ${s}.task_processes t
      USING unnest($1::text[], $2::integer[], $3::text[]) AS k (host, pid, start_marker)
      WHERE t.host = k.host AND t.pid = k.pid AND t.start_marker = k.start_marker`,
    taskProcesses: `SELECT ${TASK_PROCESS_COLUMNS} FROM ${s}.task_processes
      WHERE namespace = $1 AND host = $2 ORDER BY since, pid`,
  };
}

/** int8 (ids, epoch ms, sizes, counts) as JS numbers; every other type as pg parses it. */
const typeParser = ((oid: number, format?: "text" | "binary") =>
  oid === INT8_OID && format !== "binary"
    ? (value: string) => Number(value)
    : driver.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"];

/** The parts of a connection URL that messages may show: never the password. */
function describeUrl(url: string): { display: string; server: string; password: string } {
  try {
    const u = new URL(url);
    const password = decodeURIComponent(u.password) || (u.searchParams.get("password") ?? "");
    if (u.password !== "") u.password = "***";
    if (u.searchParams.has("password")) u.searchParams.set("password", "***");
    const host = u.searchParams.get("host") ?? (decodeURIComponent(u.hostname) || "localhost");
    const port = u.searchParams.get("port") ?? (u.port || "5432");
    return { display: u.toString(), server: `${host}:${port}`, password };
  } catch {
    // Not a URL (a key=value string): mask anything that looks like a password.
    const display = url
      .replace(/(\/\/[^:/@\s]*:)[^@\s]*@/, "$1***@")
      .replace(/(password\s*=\s*)\S+/gi, "$1***");
    return { display, server: "the configured server", password: "" };
  }
}

function pgCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Network errors, server shutdowns and connection limits: the server is not usable now. */
function isConnectionFailure(error: unknown): boolean {
  const code = pgCode(error);
  if (code !== undefined) {
    if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND…
    if (code.startsWith("08") || ["57P01", "57P02", "57P03", "53300"].includes(code)) return true;
  }
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}

function toHolder(row: LockHolder): LockHolder {
  return { pid: row.pid, host: row.host, command: row.command, since: row.since };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
