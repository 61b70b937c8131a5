/** One schema step of the PostgreSQL state store. */
export interface PostgresMigration {
  /** The version `dagwright_schema_version` records after this step; 1, 2, 3… without gaps. */
  version: number;
  description: string;
  /**
   * Statements run in one transaction together with recording the version. Table names are
   * unqualified: the migrator sets `search_path` to the store's schema for that transaction.
   */
  sql: string;
}

/**
 * The PostgreSQL schema history, oldest first. Append only: a released step is never edited,
 * because databases in the wild already ran it. The last entry's version is the schema this code
 * knows. Mirrors `sqliteMigrations`: same tables and columns, PostgreSQL types (epoch milliseconds
 * as `bigint`, JSON kept as `text` so `parts` and results round-trip byte for byte), plus
 * `runs.seq` (SQLite's rowid, the tie-break for runs started in the same millisecond) and
 * `locks.backend_pid` (the session holding the namespace's advisory lock).
 */
export const postgresMigrations: readonly PostgresMigration[] = [
  {
    version: 1,
    description: "runs, attempts, outputs, results, task state, locks, file hash cache",
    sql: `
      CREATE TABLE runs (
        run_id     text PRIMARY KEY,
        seq        bigint GENERATED ALWAYS AS IDENTITY,
        namespace  text NOT NULL,
        graph      text NOT NULL,
        branch     text NOT NULL,
        command    text NOT NULL,
        status     text NOT NULL,
        started_at bigint NOT NULL,
        ended_at   bigint,
        pid        integer NOT NULL,
        host       text NOT NULL
      );
      CREATE INDEX runs_by_namespace ON runs (namespace, started_at, seq);
      CREATE INDEX runs_by_start ON runs (started_at, seq);

      CREATE TABLE attempts (
        attempt_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id       text NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
        namespace    text NOT NULL,
        task         text NOT NULL,
        item         text NOT NULL,
        status       text NOT NULL,
        fingerprint  text NOT NULL,
        parts        text NOT NULL,
        started_at   bigint NOT NULL,
        ended_at     bigint,
        duration_ms  double precision,
        exit_code    integer,
        signal       text,
        peak_rss_kb  bigint,
        cpu_ms       double precision,
        log_path     text,
        error        text,
        result_hash  text,
        -- NULL: no result; 'value': one shard holding the JSON; 'array': shards to concatenate.
        result_kind  text
      );
      CREATE INDEX attempts_by_run ON attempts (run_id);
      CREATE INDEX attempts_by_task ON attempts (namespace, task, item);

      CREATE TABLE outputs (
        attempt_id bigint NOT NULL REFERENCES attempts (attempt_id) ON DELETE CASCADE,
        path       text NOT NULL,
        hash       text NOT NULL,
        size       bigint NOT NULL,
        mtime_ms   double precision NOT NULL,
        PRIMARY KEY (attempt_id, path)
      );

      CREATE TABLE results (
        attempt_id bigint NOT NULL REFERENCES attempts (attempt_id) ON DELETE CASCADE,
        shard_no   integer NOT NULL,
        json       text NOT NULL,
        PRIMARY KEY (attempt_id, shard_no)
      );

      -- Pointers per task/item: the current attempt (invariant 2) and the last success.
      CREATE TABLE task_state (
        namespace       text NOT NULL,
        task            text NOT NULL,
        item            text NOT NULL,
        current_attempt bigint NOT NULL REFERENCES attempts (attempt_id) ON DELETE CASCADE,
        last_success    bigint REFERENCES attempts (attempt_id) ON DELETE SET NULL,
        PRIMARY KEY (namespace, task, item)
      );
      CREATE INDEX task_state_by_current ON task_state (current_attempt);
      CREATE INDEX task_state_by_success ON task_state (last_success);

      -- Who holds a namespace lock. The lock itself is a session advisory lock; a row whose
      -- backend_pid no longer holds it is left over from a crashed holder and is overwritten.
      CREATE TABLE locks (
        namespace   text PRIMARY KEY,
        token       text NOT NULL,
        pid         integer NOT NULL,
        host        text NOT NULL,
        command     text NOT NULL,
        since       bigint NOT NULL,
        backend_pid integer NOT NULL
      );

      CREATE TABLE file_hashes (
        path     text PRIMARY KEY,
        size     bigint NOT NULL,
        mtime_ms double precision NOT NULL,
        hash     text NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: "file hash cache keyed on ctime and inode too, with the time of hashing",
    sql: `
      DELETE FROM file_hashes;
      ALTER TABLE file_hashes
        ADD COLUMN ctime_ms double precision NOT NULL DEFAULT -1,
        ADD COLUMN ino double precision NOT NULL DEFAULT -1,
        ADD COLUMN hashed_at_ms double precision NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 3,
    description: "processes tasks are running, so a crashed runner's orphans can be stopped",
    sql: `
      -- Shared by every host: each runner only ever looks at (and stops) its own host's rows.
      CREATE TABLE task_processes (
        host          text NOT NULL,
        pid           integer NOT NULL,
        start_marker  text NOT NULL,
        namespace     text NOT NULL,
        task          text NOT NULL,
        item          text NOT NULL,
        pgid          integer NOT NULL,
        runner_pid    integer NOT NULL,
        runner_marker text NOT NULL,
        since         bigint NOT NULL,
        PRIMARY KEY (host, pid)
      );
      CREATE INDEX task_processes_by_namespace ON task_processes (namespace, host, since);
    `,
  },
  {
    version: 4,
    description: "who runs each attempt: HOST:PID of the process that wrote its begin",
    sql: `
      ALTER TABLE attempts ADD COLUMN worker text;
    `,
  },
];
