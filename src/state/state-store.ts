/**
 * The state store: what dagwright remembers between runs. Every driver (SQLite, PostgreSQL)
 * implements {@link StateStore}; `test/state/state-store-conformance.ts` is the suite each driver
 * must pass.
 *
 * Covers: runs, task attempts (status, fingerprint and its parts, timings, peak memory, CPU time,
 * exit code or signal, log location, the worker running them) written through one fenced batch
 * API, output hashes, stored results (large lists sharded), the read models a UI or server pages
 * through (attempts of a run, items of a task, running attempts), the per-namespace run lock, a
 * file-hash cache for the size+mtime fast path, and the processes tasks are running (so a crashed
 * runner's orphans can be found).
 *
 * Leaves out: deciding what is fresh (plan/), hashing (fingerprint/), and combining a cache
 * namespace with a branch (callers pass the combined name from `namespaceFor`; which parent a new
 * branch starts from is `inheritBranchState`'s choice, the copy itself `copyNamespace`), and when
 * a begin is written (deferring it is the executor's `AttemptRecorder`).
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
  /** Unique across the whole store; increases with every begin. */
  attemptId: number;
  runId: string;
  namespace: string;
  task: string;
  /** The fan-out item key, `""` when the task is not fanned out. */
  item: string;
  status: TaskStatus;
  fingerprint: string;
  /** The fingerprint parts (any JSON value) as given to the begin; `explain` diffs them. */
  parts: unknown;
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt?: number;
  durationMs?: number;
  exitCode?: number;
  signal?: string;
  peakRssKb?: number;
  cpuMs?: number;
  /** Where the attempt's log is (a project-relative or absolute path). */
  logPath?: string;
  error?: string;
  /** Who ran it, `HOST:PID` of the process that wrote its begin (absent in older records). */
  worker?: string;
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

/** A new attempt of one task (and item), as {@link StateStore.writeAttempts} records it. */
export interface AttemptBegin {
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
  /** Who runs it, `HOST:PID`; defaults to this process (`${os.hostname()}:${process.pid}`). */
  worker?: string;
}

/** How a successful attempt ended: what is recorded with it in one transaction. */
export interface AttemptCompletion {
  outputs: OutputRecord[];
  /** Any JSON value; stored, read back with {@link StateStore.result}. */
  result?: unknown;
  resultHash?: string;
  exitCode?: number;
  peakRssKb?: number;
  cpuMs?: number;
  durationMs: number;
}

/** How a failed or cancelled attempt ended. */
export interface AttemptFailure {
  status: "failed" | "cancelled";
  exitCode?: number;
  signal?: string;
  error: string;
  durationMs: number;
  peakRssKb?: number;
  cpuMs?: number;
}

/** How one attempt ended, as the state store records it. */
export type AttemptOutcome = { completion: AttemptCompletion } | { failure: AttemptFailure };

/**
 * One entry of {@link StateStore.writeAttempts}:
 * - `begin`: the attempt's "running" record, written now;
 * - `outcome`: the outcome of an attempt begun earlier (by its id);
 * - `record`: a deferred begin together with its outcome, for an attempt that ended before its
 *   begin was written (needs `startedAt` and the call's `lockToken`).
 */
export type AttemptWrite =
  | { kind: "begin"; attempt: AttemptBegin }
  | { kind: "outcome"; attemptId: number; outcome: AttemptOutcome }
  | { kind: "record"; attempt: AttemptBegin & { startedAt: number }; outcome: AttemptOutcome };

/**
 * Why a write did not make its attempt current: a newer attempt is the task/item's current one
 * (`superseded`), the attempt is no longer running (`not-running`: failed, cancelled or finished
 * meanwhile), or the call's lock token no longer holds the namespace lock (`lock-lost`).
 */
export type AttemptRefusal = "superseded" | "not-running" | "lock-lost";

/**
 * What one {@link AttemptWrite} did:
 * - `current`: stored, and the attempt is the task/item's current attempt (for a success, also
 *   its last success);
 * - `history`: stored, without being (or becoming) the current attempt;
 * - `refused`: nothing stored.
 *
 * `reason` is set whenever the verdict is not `current`. `attemptId` is the attempt's id, absent
 * only when a `record` was refused (no row was written).
 */
export type AttemptWriteResult =
  | { verdict: "current"; attemptId: number }
  | { verdict: "history"; attemptId: number; reason: AttemptRefusal }
  | { verdict: "refused"; attemptId?: number; reason: AttemptRefusal };

/** One item of a task with its current attempt and last success ({@link StateStore.taskItems}). */
export interface ItemState {
  item: string;
  lastAttempt?: TaskRunRecord;
  lastSuccess?: TaskRunRecord;
}

/**
 * Persistent state of dagwright, per namespace (cache namespace + branch, see `namespaceFor`).
 *
 * Guarantees:
 * - A success is recorded, with its outputs and result, in one transaction (invariant 1).
 * - Only the current attempt of a task/item can record success; a newer begin supersedes older
 *   ones (invariant 2).
 * - Failures and cancellations never replace the last success.
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
   * Every write of attempts: begins, outcomes, and deferred begin+outcome records. Resolves to one
   * {@link AttemptWriteResult} per entry, in input order. The entries of one call commit in one
   * transaction (the items of a bundle), or not at all; the driver also commits the calls issued
   * in the same turn of the event loop together (group commit) and, when such a batch fails,
   * retries each call alone, so a bad entry rejects only its own call. Rejects with `E_INTERNAL`
   * when a begin names a run that `beginRun` did not return.
   *
   * - `begin` records the attempt as "running". Without `lockToken` it becomes the task/item's
   *   current attempt (superseding older ones: invariant 2). With `lockToken` it is a deferred
   *   begin, fenced (below): it always gets its row and id (the caller goes on to finish it) but
   *   becomes current only if it passes both checks (else `history`, so its completion is refused).
   * - `outcome` with a completion marks the attempt succeeded with its outputs, result and
   *   metrics, and makes it the last success, in one transaction (invariant 1); refused, recording
   *   nothing, when the attempt is no longer current (`superseded`) or no longer running
   *   (`not-running`: failed or cancelled meanwhile, invariant 6). With a failure it marks a
   *   running attempt failed or cancelled, never touching the last success (`history` +
   *   `superseded` when a newer attempt is current); an attempt that already finished is left as
   *   it is (`refused`, `not-running`).
   * - `record` is a begin and its outcome at once, for an attempt that ended before its begin was
   *   written (the executor defers the begin of a local task until it has run a while, so a short
   *   task costs one write instead of two). Deferred, so fenced: needs `lockToken` (rejects with
   *   `E_INTERNAL` without one) and `attempt.startedAt`. A success failing a check is `refused`;
   *   a failure failing check (b) is kept as `history`, failing check (a) is `refused`.
   *
   * Fencing (invariant 2). An attempt whose begin is written when it starts is fenced by the
   * current-attempt pointer alone. A begin may also be deferred (written once the attempt has run
   * a while, or together with its outcome), but only by a caller holding the namespace's lock:
   * such a write carries the token `acquireLock` returned and the attempt's `startedAt`, and the
   * store checks, in the write's own transaction, that (a) the token still holds the lock (not
   * released, not taken over from a stale holder; else `lock-lost`) and (b) no attempt that began
   * later than this one is the task/item's current attempt (else `superseded`). So a late deferred
   * record never displaces an attempt another runner began after it. Check (b) trusts the clocks of
   * the runners to agree to within the time between two attempts' starts.
   */
  writeAttempts(
    writes: readonly AttemptWrite[],
    opts?: { lockToken?: string },
  ): Promise<AttemptWriteResult[]>;
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
   * A page of the items (item ≠ "") of one task that have state, ordered by item key (code-point
   * order), each with its current attempt and last success: what a UI lists for a fan-out of any
   * size. Starts after the key `after` (exclusive; default: the first item); at most `limit`
   * (default 100) items. The next page starts after the last key of this one; a page shorter than
   * `limit` is the last.
   */
  taskItems(
    namespace: string,
    task: string,
    page?: { after?: string; limit?: number },
  ): Promise<ItemState[]>;
  /**
   * A page of the attempts of one run (every task and item, any status, current or not), ordered
   * by attempt id: those with an id greater than `after` (default: from the first), at most `limit`
   * (default 100). The next page starts after the last id of this one.
   */
  attemptsOfRun(runId: string, page?: { after?: number; limit?: number }): Promise<TaskRunRecord[]>;
  /** One attempt by id (its `logPath` locates its log), or undefined when there is none. */
  attempt(attemptId: number): Promise<TaskRunRecord | undefined>;
  /**
   * The attempts of `namespace` that are running now: status "running" and the current attempt of
   * their task/item (a superseded attempt whose runner died is not shown). Ordered by task, item.
   * An attempt whose begin is deferred appears once its begin is written.
   */
  runningAttempts(namespace: string): Promise<TaskRunRecord[]>;
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
