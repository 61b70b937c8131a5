/** One schema step of the SQLite state store. */
export interface SqliteMigration {
  /** The `PRAGMA user_version` the database has after this step; 1, 2, 3… without gaps. */
  version: number;
  description: string;
  /** Statements run in one transaction together with setting `user_version`. */
  sql: string;
}

/**
 * The SQLite schema history, oldest first. Append only: a released step is never edited, because
 * databases in the wild already ran it. The last entry's version is the schema this code knows.
 */
export const sqliteMigrations: readonly SqliteMigration[] = [
  {
    version: 1,
    description: "runs, attempts, outputs, results, task state, locks, file hash cache",
    sql: `
      CREATE TABLE runs (
        run_id     TEXT PRIMARY KEY,
        namespace  TEXT NOT NULL,
        graph      TEXT NOT NULL,
        branch     TEXT NOT NULL,
        command    TEXT NOT NULL,
        status     TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at   INTEGER,
        pid        INTEGER NOT NULL,
        host       TEXT NOT NULL
      );
      CREATE INDEX runs_by_namespace ON runs (namespace, started_at);
      CREATE INDEX runs_by_start ON runs (started_at);

      CREATE TABLE attempts (
        attempt_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id       TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        namespace    TEXT NOT NULL,
        task         TEXT NOT NULL,
        item         TEXT NOT NULL,
        status       TEXT NOT NULL,
        fingerprint  TEXT NOT NULL,
        parts        TEXT NOT NULL,
        started_at   INTEGER NOT NULL,
        ended_at     INTEGER,
        duration_ms  REAL,
        exit_code    INTEGER,
        signal       TEXT,
        peak_rss_kb  INTEGER,
        cpu_ms       REAL,
        log_path     TEXT,
        error        TEXT,
        result_hash  TEXT,
        -- NULL: no result; 'value': one shard holding the JSON; 'array': shards to concatenate.
        result_kind  TEXT
      );
      CREATE INDEX attempts_by_run ON attempts (run_id);
      CREATE INDEX attempts_by_task ON attempts (namespace, task, item);

      CREATE TABLE outputs (
        attempt_id INTEGER NOT NULL REFERENCES attempts (attempt_id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        hash       TEXT NOT NULL,
        size       INTEGER NOT NULL,
        mtime_ms   REAL NOT NULL,
        PRIMARY KEY (attempt_id, path)
      ) WITHOUT ROWID;

      CREATE TABLE results (
        attempt_id INTEGER NOT NULL REFERENCES attempts (attempt_id) ON DELETE CASCADE,
        shard_no   INTEGER NOT NULL,
        json       TEXT NOT NULL,
        PRIMARY KEY (attempt_id, shard_no)
      ) WITHOUT ROWID;

      -- Pointers per task/item: the current attempt (invariant 2) and the last success.
      CREATE TABLE task_state (
        namespace       TEXT NOT NULL,
        task            TEXT NOT NULL,
        item            TEXT NOT NULL,
        current_attempt INTEGER NOT NULL REFERENCES attempts (attempt_id) ON DELETE CASCADE,
        last_success    INTEGER REFERENCES attempts (attempt_id) ON DELETE SET NULL,
        PRIMARY KEY (namespace, task, item)
      ) WITHOUT ROWID;

      CREATE TABLE locks (
        namespace TEXT PRIMARY KEY,
        token     TEXT NOT NULL,
        pid       INTEGER NOT NULL,
        host      TEXT NOT NULL,
        command   TEXT NOT NULL,
        since     INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE file_hashes (
        path     TEXT PRIMARY KEY,
        size     INTEGER NOT NULL,
        mtime_ms REAL NOT NULL,
        hash     TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: "state version per namespace (bumped by every write planning reads), store id",
    sql: `
      -- The no-change memo trusts a namespace's state while its version is unchanged: triggers
      -- bump it on every write to what planning reads, whichever process or code path writes.
      -- Runs, locks and the file hash cache are not planning state and do not bump it.
      CREATE TABLE state_versions (
        namespace TEXT PRIMARY KEY,
        version   INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- Tells a recreated state file from the one a memo saw (its versions restart at 0).
      CREATE TABLE store_identity (id TEXT NOT NULL);
      INSERT INTO store_identity (id) VALUES (lower(hex(randomblob(16))));

      ${versionTriggers()}
    `,
  },
  {
    version: 3,
    description: "file hash cache keyed on ctime and inode too, with the time of hashing",
    sql: `
      -- Size and mtime alone miss a same-size rewrite whose mtime was restored (cp -p, rsync -a,
      -- tar x) or fell in the same timestamp tick. Old rows lack the new keys: they are dropped,
      -- and the files hashed again once.
      DELETE FROM file_hashes;
      ALTER TABLE file_hashes ADD COLUMN ctime_ms REAL NOT NULL DEFAULT -1;
      ALTER TABLE file_hashes ADD COLUMN ino REAL NOT NULL DEFAULT -1;
      ALTER TABLE file_hashes ADD COLUMN hashed_at_ms REAL NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 4,
    description: "processes tasks are running, so a crashed runner's orphans can be stopped",
    sql: `
      -- One row per running task process; a pid is unique on a host while it runs, and a row
      -- whose pid was recycled is replaced. Not planning state: no version triggers.
      CREATE TABLE task_processes (
        host          TEXT NOT NULL,
        pid           INTEGER NOT NULL,
        start_marker  TEXT NOT NULL,
        namespace     TEXT NOT NULL,
        task          TEXT NOT NULL,
        item          TEXT NOT NULL,
        pgid          INTEGER NOT NULL,
        runner_pid    INTEGER NOT NULL,
        runner_marker TEXT NOT NULL,
        since         INTEGER NOT NULL,
        PRIMARY KEY (host, pid)
      ) WITHOUT ROWID;
      CREATE INDEX task_processes_by_namespace ON task_processes (namespace, host, since);
    `,
  },
  {
    version: 5,
    description: "who runs each attempt: HOST:PID of the process that wrote its begin",
    sql: `
      ALTER TABLE attempts ADD COLUMN worker TEXT;
    `,
  },
];

/**
 * Triggers bumping `state_versions` on every write planning reads: any insert, update or delete
 * of `attempts` and `task_state` (keyed by namespace), and insert or delete of `outputs` and
 * `results` (keyed by attempt, so the namespace is looked up).
 */
function versionTriggers(): string {
  const bump = (row: "NEW" | "OLD", viaAttempt: boolean) =>
    viaAttempt
      ? `INSERT INTO state_versions (namespace, version)
          SELECT namespace, 1 FROM attempts WHERE attempt_id = ${row}.attempt_id
        ON CONFLICT (namespace) DO UPDATE SET version = version + 1;`
      : `INSERT INTO state_versions (namespace, version) VALUES (${row}.namespace, 1)
        ON CONFLICT (namespace) DO UPDATE SET version = version + 1;`;
  const tables: [string, ("INSERT" | "UPDATE" | "DELETE")[], boolean][] = [
    ["attempts", ["INSERT", "UPDATE", "DELETE"], false],
    ["task_state", ["INSERT", "UPDATE", "DELETE"], false],
    ["outputs", ["INSERT", "DELETE"], true],
    ["results", ["INSERT", "DELETE"], true],
  ];
  return tables
    .flatMap(([table, ops, viaAttempt]) =>
      ops.map(
        (op) =>
          `CREATE TRIGGER ${table}_${op.toLowerCase()}_bumps_version AFTER ${op} ON ${table} BEGIN
        ${bump(op === "DELETE" ? "OLD" : "NEW", viaAttempt)}
      END;`,
      ),
    )
    .join("\n      ");
}
