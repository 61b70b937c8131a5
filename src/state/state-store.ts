/**
 * The state store: what dagwright remembers between runs. Every driver (SQLite now, PostgreSQL
 * later) implements {@link StateStore}; `test/state/state-store-conformance.ts` is the suite each
 * driver must pass.
 *
 * Covers: runs, task attempts (status, fingerprint and its parts, timings, peak memory, CPU time,
 * exit code or signal, log location), output hashes, stored results (large lists sharded), the
 * per-namespace run lock, a file-hash cache for the size+mtime fast path, and the processes tasks
 * are running (so a crashed runner's orphans can be found).
 *
 * Leaves out: deciding what is fresh (plan/), hashing (fingerprint/), and combining a cache
 * namespace with a branch (callers pass the combined name from `namespaceFor`; which parent a new
 * branch starts from is `inheritBranchState`'s choice, the copy itself `copyNamespace`).
 *
 * @module
 */

/** Where an attempt is in its life. Only `succeeded` attempts can become the last success. */
export type TaskStatus = "running" | "succeeded" | "failed" | "cancelled";

/** A file a task produced, as recorded when the task completed. */
export interface OutputRecord {
  /** Project-relative POSIX path. */
  path: string;
  hash: string;
  size: number;
  mtimeMs: number;
}

/** One attempt of one task (and item) as stored. */
export interface TaskRunRecord {
  /** Unique across the whole store; increases with every `beginAttempt`. */
  attemptId: number;
  runId: string;
  namespace: string;
  task: string;
  /** The fan-out item key, `""` when the task is not fanned out. */
  item: string;
  status: TaskStatus;
  fingerprint: string;
  /** The fingerprint parts (any JSON value) as given to `beginAttempt`; `explain` diffs them. */
  parts: unknown;
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt?: number;
  durationMs?: number;
  exitCode?: number;
  signal?: string;
  peakRssKb?: number;
  cpuMs?: number;
  logPath?: string;
  error?: string;
  /** Empty unless the attempt succeeded. */
  outputs: OutputRecord[];
  resultHash?: string;
  /** True when a result was stored with the success (read it with `StateStore.result`). */
  hasResult: boolean;
}

/** One `dagwright run` (or `run-task`) invocation. */
export interface RunRecord {
  /** Random (UUID). */
  runId: string;
  namespace: string;
  graph: string;
  branch: string;
  status: "running" | "succeeded" | "failed" | "cancelled";
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt?: number;
  pid: number;
}

/** Who holds a namespace lock. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The command line of the holder, for "locked by `dagwright run main` (pid 123)" messages. */
  command: string;
  /** Epoch milliseconds. */
  since: number;
}

/** A cached content hash and the file metadata it was taken at. */
export interface FileHashRow {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** When the content was hashed (epoch ms): an entry hashed right after a write is not trusted. */
  hashedAtMs: number;
  hash: string;
}

/**
 * A process a task started, recorded while it runs so that the next run can find it if its runner
 * died without stopping it (an orphan). Identified by host, pid and start marker.
 */
export interface TaskProcessRecord {
  namespace: string;
  task: string;
  /** The fan-out item key, `""` when the task is not fanned out. */
  item: string;
  /** `os.hostname()` of the machine it runs on: only that machine can tell whether it lives. */
  host: string;
  pid: number;
  /** Its process group (a task's process leads its own, so this is usually `pid`). */
  pgid: number;
  /**
   * Opaque; tells this process from a later one given the same pid (boot id and start time), so
   * a recycled pid is never taken for it.
   */
  startMarker: string;
  /** The dagwright process that started it and that process's start marker. */
  runnerPid: number;
  runnerMarker: string;
  /** Epoch milliseconds. */
  since: number;
}

/** What identifies one {@link TaskProcessRecord}. */
export type TaskProcessKey = Pick<TaskProcessRecord, "host" | "pid" | "startMarker">;

/**
 * Persistent state of dagwright, per namespace (cache namespace + branch, see `namespaceFor`).
 *
 * Guarantees:
 * - A success is recorded, with its outputs and result, in one transaction (invariant 1).
 * - Only the current attempt of a task/item can record success; a newer `beginAttempt`
 *   supersedes older ones (invariant 2).
 * - Failures and cancellations never replace the last success.
 *
 * Fencing (invariant 2). An attempt whose begin is written when it starts is fenced by the
 * current-attempt pointer alone. A begin may also be deferred (written once the attempt has run a
 * while, or together with its outcome by `recordAttempt(s)`), but only by a caller holding the
 * namespace's lock: such a write carries the token `acquireLock` returned and the attempt's
 * `startedAt`, and the store checks, in the write's own transaction, that (a) the token still
 * holds the lock (not released, not taken over from a stale holder) and (b) no attempt that
 * began later than this one is the task/item's current attempt. A deferred success failing either
 * check is not recorded (false, like a superseded attempt); a deferred failure failing (b) is kept
 * as history without becoming current, failing (a) not at all; a deferred begin failing either is
 * kept without becoming current (so its completion is refused). So a late deferred record never
 * displaces an attempt another runner began after it. Check (b) trusts the clocks of the runners
 * to agree to within the time between two attempts' starts.
 *
 * Methods reject with `DagwrightError("E_ENV")` when the store is unusable (locked beyond its busy
 * timeout, written by a newer dagwright, not a database).
 */
export interface StateStore {
  /** Records a new run as "running" and returns its random id. */
  beginRun(r: {
    namespace: string;
    graph: string;
    branch: string;
    command: string;
  }): Promise<string>;
  /** Sets the final status and end time of a run. Unknown ids are ignored. */
  endRun(runId: string, status: RunRecord["status"]): Promise<void>;
  /**
   * Records a new attempt as "running" and makes it the current attempt of (namespace, task, item).
   * Rejects with `E_INTERNAL` when `runId` was not returned by `beginRun`.
   */
  beginAttempt(a: {
    runId: string;
    namespace: string;
    task: string;
    item?: string;
    fingerprint: string;
    parts: unknown;
    /** `parts` already serialized as JSON (fan-outs build it once per task, not per item). */
    partsJson?: string;
    logPath?: string;
    /** Epoch milliseconds the attempt started; defaults to now (deferred writes pass it). */
    startedAt?: number;
  }): Promise<number>;
  /**
   * One transaction: marks the attempt succeeded with its outputs, result (JSON value, stored) and
   * metrics, and makes it the last success of (namespace, task, item). Returns false and records
   * nothing if the attempt is no longer the current attempt of that task/item (superseded:
   * invariant 2) or is no longer running (failed or cancelled meanwhile: invariant 6).
   */
  completeAttempt(
    attemptId: number,
    c: {
      outputs: OutputRecord[];
      result?: unknown;
      resultHash?: string;
      exitCode?: number;
      peakRssKb?: number;
      cpuMs?: number;
      durationMs: number;
    },
  ): Promise<boolean>;
  /**
   * Marks a running attempt failed or cancelled (never touches the last success). An attempt that
   * already finished is left as it is.
   */
  failAttempt(
    attemptId: number,
    f: {
      status: "failed" | "cancelled";
      exitCode?: number;
      signal?: string;
      error: string;
      durationMs: number;
      peakRssKb?: number;
      cpuMs?: number;
    },
  ): Promise<void>;
  /**
   * `beginAttempt` and its outcome at once, for an attempt that ended before its begin was written
   * (the executor defers the begin of a local task until it has run for a while, so a short task
   * costs one write instead of two). A deferred begin: `lockToken` is the token of the namespace
   * lock the caller holds and `a.startedAt` when the attempt started (see Fencing above). One
   * transaction. Resolves to true when the record became the task/item's current attempt (and,
   * for a success, its last success); false when it was refused or kept only as history.
   */
  recordAttempt(
    a: Parameters<StateStore["beginAttempt"]>[0] & { startedAt: number },
    outcome:
      | { completion: Parameters<StateStore["completeAttempt"]>[1] }
      | { failure: Parameters<StateStore["failAttempt"]>[1] },
    lockToken: string,
  ): Promise<boolean>;
  /** `recordAttempt` for many attempts (the items of a bundle); results in input order. */
  recordAttempts(
    list: readonly {
      attempt: Parameters<StateStore["recordAttempt"]>[0];
      outcome: Parameters<StateStore["recordAttempt"]>[1];
    }[],
    lockToken: string,
  ): Promise<boolean[]>;
  /** The latest attempt (any status) of a task+item (`item` defaults to `""`). */
  lastAttempt(namespace: string, task: string, item?: string): Promise<TaskRunRecord | undefined>;
  /** The last successful attempt of a task+item (`item` defaults to `""`). */
  lastSuccess(namespace: string, task: string, item?: string): Promise<TaskRunRecord | undefined>;
  /**
   * Batch form used by `status` and the planner for whole graphs (a constant number of queries,
   * not one per task). Keyed by task name, item `""` only; tasks never attempted are absent.
   */
  taskStates(
    namespace: string,
    tasks: readonly string[],
  ): Promise<Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>>;
  /**
   * The last attempt and last success of the items (item ≠ "") of one task, keyed by item, in one
   * query: fan-out plans thousands of items and must not pay a round trip each. With `items`, only
   * those keys (items never attempted are absent): planners read a large fan-out page by page, so
   * their memory does not grow with the number of items. Without it, every item of the task.
   */
  itemStates(
    namespace: string,
    task: string,
    items?: readonly string[],
  ): Promise<Map<string, { lastAttempt?: TaskRunRecord; lastSuccess?: TaskRunRecord }>>;
  /**
   * `beginAttempt` for many items; ids in input order. The batch forms keep every guarantee of the
   * single calls per entry; SQLite runs each batch in one transaction, PostgreSQL entry by entry.
   *
   * With `lockToken`, the begins were deferred (written after the attempts started, each with its
   * `startedAt`) and are fenced (see Fencing above): an entry that fails either check still gets
   * its row and id (the caller goes on to finish it) but does not become current, so its
   * `completeAttempt` returns false.
   */
  beginAttempts(
    list: readonly Parameters<StateStore["beginAttempt"]>[0][],
    lockToken?: string,
  ): Promise<number[]>;
  /** `completeAttempt` for many attempts; each entry's result as the single call's. */
  completeAttempts(
    list: readonly {
      attemptId: number;
      completion: Parameters<StateStore["completeAttempt"]>[1];
    }[],
  ): Promise<boolean[]>;
  /** `failAttempt` for many attempts. */
  failAttempts(
    list: readonly { attemptId: number; failure: Parameters<StateStore["failAttempt"]>[1] }[],
  ): Promise<void>;
  /** The stored result of the last success (parsed JSON), or undefined when there is none. */
  result(namespace: string, task: string, item?: string): Promise<unknown>;
  /** Runs, newest first, optionally of one namespace; `limit` defaults to 100. */
  runs(namespace?: string, limit?: number): Promise<RunRecord[]>;
  /**
   * Per-project lock for a namespace. wait=false: returns the current holder instead of waiting
   * when held. wait=true: polls (every `pollMs`, default 500) until free, calling onWait(holder)
   * once when it starts waiting. A holder whose pid is dead (same host) is stale and taken over;
   * a holder on another host is never considered stale. `release` is idempotent; `close` releases
   * the locks this store still holds.
   *
   * `token` is opaque and unique to this acquisition; it stays valid until the lock is released
   * or taken over, and is what deferred attempt records carry (see Fencing above).
   */
  acquireLock(
    namespace: string,
    holder: { command: string },
    opts: { wait: boolean; onWait?: (h: LockHolder) => void; pollMs?: number },
  ): Promise<
    | { acquired: true; token: string; release: () => Promise<void> }
    | { acquired: false; holder: LockHolder }
  >;
  /** The file hash cache (keyed by absolute path; see src/fingerprint/hash-file.ts). Sync: hot path. */
  getFileHash(path: string): FileHashRow | undefined;
  /** Inserts or replaces file hash cache rows, all in one transaction. */
  putFileHashes(rows: (FileHashRow & { path: string })[]): void;
  /**
   * How many task records (one per task, and per item of a fan-out) `namespace` has: what planning
   * reads. Counts at most `atMost` (default: all), so `countTaskRecords(ns, 1) === 0` asks cheaply
   * whether a namespace has any state.
   */
  countTaskRecords(namespace: string, atMost?: number): Promise<number>;
  /**
   * Starts namespace `to` from the state of `from` (a new branch from its parent's), in one
   * transaction: every task record of `from` with its current attempt and last success, their
   * outputs and stored results, and the runs those attempts belong to (under new ids, still
   * naming the branch they ran on), so that planning decides in `to` exactly as it would in
   * `from`. Earlier history is not copied. The copy moves `to`'s state version.
   *
   * Copies only while `lockToken` holds `to`'s lock (see `acquireLock`) and `to` has no task
   * record yet, so of two runners starting the same branch at once exactly one copies. Resolves
   * to the number of task records copied: 0 when `to` already had state, `from` has none, or the
   * token no longer holds the lock.
   */
  copyNamespace(from: string, to: string, lockToken: string): Promise<number>;
  /**
   * One transaction: records the processes in `started` (a row with the same host and pid is
   * replaced: that pid was recycled), then forgets those in `ended` (a key whose start marker
   * differs from the row's is ignored). Not planning state: the state version does not move.
   */
  updateTaskProcesses(change: {
    started?: readonly TaskProcessRecord[];
    ended?: readonly TaskProcessKey[];
  }): Promise<void>;
  /** The recorded processes of `namespace` on `host`, oldest first. */
  taskProcesses(namespace: string, host: string): Promise<TaskProcessRecord[]>;
  /** Every namespace with attempts or runs: how many tasks it has state for and its last run start. */
  namespaces(): Promise<{ namespace: string; tasks: number; lastRun?: number }[]>;
  /**
   * Releases this store's locks and closes it. Idempotent. With `leaveForExit`, a store whose
   * connection is costly to close (SQLite: a checkpoint of its WAL) may instead leave it to the
   * end of the process (see src/cli/exit.ts); it is unusable either way.
   */
  close(options?: { leaveForExit?: boolean }): Promise<void>;
}
