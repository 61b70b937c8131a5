// The project's DuckDB database, shared by SQL tasks (tasks/), the hashing of `duckdb://` outputs
// (fingerprint/, plan/, exec/) and tasks that open it themselves. It lives here, beside
// optional-package.ts, because every layer that touches the file must take its turn through the
// same queue, and spec/ is the one layer they may all import.
//
// DuckDB lets one process write a database file at a time, and a second instance of the same
// file inside one process is not safe either. So: inside this process, one user at a time per
// file (a queue); across processes, an open that meets another process's lock waits and retries.
// Nobody keeps the file open between uses, so a Python task that opens it itself can run next.
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type * as Duckdb from "@duckdb/node-api";
import { DagwrightError } from "./errors.js";
import { requireOptional } from "./optional-package.js";
import type { Settings, TaskSpec } from "./types.js";

/** The project database when `settings.db_path` is not set, relative to the project root. */
export const DEFAULT_DATABASE_PATH = ".dagwright/project.duckdb";

/** How long an open waits for another process to release the file, by default. */
export const DEFAULT_LOCK_WAIT_MS = 10 * 60_000;

/**
 * The absolute path of the project database: `settings.db_path` (relative to the project root),
 * else {@link DEFAULT_DATABASE_PATH}. Pure.
 */
export function projectDatabasePath(root: string, settings: Pick<Settings, "raw">): string {
  const written = settings.raw.db_path;
  return path.resolve(
    root,
    typeof written === "string" && written !== "" ? written : DEFAULT_DATABASE_PATH,
  );
}

/**
 * Whether a task works on the project database, and so takes its turn on it while it runs: a SQL
 * task, a task that declares a `duckdb://` output, one with `duckdb_checkpoint`, or a kptn Python
 * task handed the `config.duckdb` connection ({@link TaskSpec.opensDatabase}).
 */
export function usesProjectDatabase(
  task: Pick<TaskSpec, "kind" | "outputs" | "duckdbCheckpoint" | "opensDatabase">,
): boolean {
  return (
    task.kind === "sql" ||
    task.duckdbCheckpoint === true ||
    task.opensDatabase === true ||
    task.outputs.some((o) => o.startsWith("duckdb://"))
  );
}

/**
 * Whether dagwright itself opens the project database for a task (SQL, `duckdb://` outputs,
 * checkpoints), and so needs the `@duckdb/node-api` driver and the database's path.
 */
export function dagwrightOpensDatabase(
  task: Pick<TaskSpec, "kind" | "outputs" | "duckdbCheckpoint">,
): boolean {
  return usesProjectDatabase({ ...task, opensDatabase: false });
}

/**
 * The project-relative file an artifact location holds for a recorded output: the path itself,
 * or for a `duckdb://` table the project database (`db_path`), which carries every table. Pure.
 */
export function artifactPathOf(
  root: string,
  settings: Pick<Settings, "raw">,
  recorded: string,
): string {
  if (!recorded.startsWith("duckdb://")) return recorded;
  return path.relative(root, projectDatabasePath(root, settings)).split(path.sep).join("/");
}

/**
 * The version of the installed `@duckdb/node-api` (found as {@link withDatabase} would load it),
 * or undefined when it is not installed. Reads its package.json; loads no native code.
 */
export function duckdbDriverVersion(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url)("@duckdb/node-api/package.json") as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return undefined;
  }
}

const queues = new Map<string, Promise<void>>();

/**
 * Waits until no one else in this process uses the database `file`, then holds it until the
 * returned function is called (call it exactly once). Turns are granted in the order asked.
 */
export async function takeDatabaseTurn(file: string): Promise<() => void> {
  const before = queues.get(file) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = before.then(() => mine);
  queues.set(file, tail);
  await before;
  return () => {
    release();
    if (queues.get(file) === tail) queues.delete(file);
  };
}

/** A value a statement's `$name` parameter can take. */
export type SqlValue = string | number | boolean | bigint | null;

/** What a statement did: rows it changed (or created), or rows it returned. */
export interface StatementResult {
  rowsChanged: number;
  /** The columns of its result (a `Count` column for CREATE … AS and INSERT). */
  columns: string[];
  /** Its first rows (at most `firstRows` of {@link DatabaseConnection.run}), as JS values. */
  rows: unknown[][];
}

/** A connection to the project database, open for the duration of one {@link withDatabase}. */
export interface DatabaseConnection {
  /** Runs one statement with named parameters; reads at most `firstRows` rows of its result. */
  run(sql: string, params?: Record<string, SqlValue>, firstRows?: number): Promise<StatementResult>;
  /** Stops the running statement (it fails with an "interrupted" error). */
  interrupt(): void;
}

/** How {@link withDatabase} opens the file. */
export interface OpenOptions {
  readOnly: boolean;
  /** How long to wait for another process's lock on the file ({@link DEFAULT_LOCK_WAIT_MS}). */
  lockWaitMs?: number;
  /** Stops waiting for another process's lock when aborted. */
  signal?: AbortSignal;
  /** What needs the database, for the "install @duckdb/node-api" message. */
  feature?: string;
}

/**
 * Runs `use` with a connection to the database `file`, holding this process's turn on it, and
 * closes the file before returning (so another process may open it next). A writable open
 * creates the file and its directory; the caller checks that a read-only one exists.
 *
 * @throws DagwrightError `E_ENV` when `@duckdb/node-api` is not installed, or when another
 *   process still holds the file after `lockWaitMs`; DuckDB's own error when the file cannot be
 *   opened otherwise; whatever `use` throws.
 */
export async function withDatabase<T>(
  file: string,
  options: OpenOptions,
  use: (connection: DatabaseConnection) => Promise<T>,
): Promise<T> {
  const api = requireOptional<typeof Duckdb>(
    "@duckdb/node-api",
    options.feature ?? "the project's DuckDB database",
  );
  const release = await takeDatabaseTurn(file);
  try {
    if (!options.readOnly) mkdirSync(path.dirname(file), { recursive: true });
    const instance = await openWaiting(api, file, options);
    try {
      const connection = await instance.connect();
      try {
        return await use(wrap(connection));
      } finally {
        connection.closeSync();
      }
    } finally {
      instance.closeSync();
    }
  } finally {
    release();
  }
}

/** Whether the database file exists (a read-only open of a missing file is an error). */
export function databaseExists(file: string): boolean {
  return existsSync(file);
}

function isLockConflict(err: unknown): boolean {
  return err instanceof Error && /Could not set lock on file|Conflicting lock/i.test(err.message);
}

async function openWaiting(
  api: typeof Duckdb,
  file: string,
  options: OpenOptions,
): Promise<Duckdb.DuckDBInstance> {
  const deadline = Date.now() + (options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS);
  const settings: Record<string, string> = options.readOnly ? { access_mode: "READ_ONLY" } : {};
  let pause = 20;
  for (;;) {
    try {
      return await api.DuckDBInstance.create(file, settings);
    } catch (err) {
      if (!isLockConflict(err)) throw err;
      if (Date.now() >= deadline || options.signal?.aborted) {
        throw new DagwrightError(
          "E_ENV",
          `the DuckDB database ${file} is held by another process: ${(err as Error).message}`,
          {
            cause: err,
            hint: "DuckDB allows one writer process per file: let the other program finish (or close it), then run again",
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 500);
    }
  }
}

function wrap(connection: Duckdb.DuckDBConnection): DatabaseConnection {
  return {
    run: async (sql, params, firstRows = 0) => {
      const reader = await connection.runAndReadUntil(
        sql,
        firstRows,
        params === undefined || Object.keys(params).length === 0 ? undefined : params,
      );
      return {
        rowsChanged: reader.rowsChanged,
        columns: reader.columnNames(),
        rows: firstRows > 0 ? reader.getRows().slice(0, firstRows) : [],
      };
    },
    interrupt: () => connection.interrupt(),
  };
}
