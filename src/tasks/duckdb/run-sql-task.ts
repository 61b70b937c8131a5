import { readFileSync } from "node:fs";
import path from "node:path";
import {
  type DatabaseConnection,
  DEFAULT_DATABASE_PATH,
  type SqlValue,
  type StatementResult,
  withDatabase,
} from "../../spec/duckdb-database.js";
import { type SqlStatement, splitSqlStatements } from "../../spec/sql-statements.js";
import type { TaskSpec } from "../../spec/types.js";
import { type TaskLog, writeTaskLog } from "../task-log.js";

/** What running a SQL task needs (a subset of the launcher's request). */
export interface SqlTaskRequest {
  task: TaskSpec;
  /** Absolute project root. */
  root: string;
  /** `DAGWRIGHT_DUCKDB_PATH` names the database (default `<root>/.dagwright/project.duckdb`). */
  env: Record<string, string>;
  /** `$name` parameters come from a fan-out item's values over `args` over `config`. */
  inputs: {
    args: Record<string, unknown>;
    config: Record<string, unknown>;
    item?: Record<string, string>;
  };
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** How a SQL task ended; never a success after a timeout, a cancel or a failed statement. */
export interface SqlTaskOutcome {
  status: "succeeded" | "failed" | "timeout" | "cancelled";
  error?: string;
}

/** The database a launch uses: the caller's `DAGWRIGHT_DUCKDB_PATH`, else the default. */
export function databaseOf(req: Pick<SqlTaskRequest, "root" | "env">): string {
  return req.env.DAGWRIGHT_DUCKDB_PATH ?? path.join(req.root, DEFAULT_DATABASE_PATH);
}

/**
 * Runs a SQL task: the statements of its file (split like kptn, see {@link splitSqlStatements})
 * one by one in ONE transaction on the project database, each with the `$name` parameters it
 * uses. Each statement and its row count go to the log. A failing statement rolls everything back
 * and fails the task with `file:line:column` of the statement and DuckDB's message; a timeout or
 * cancel interrupts the statement and rolls back too. The database is open only meanwhile.
 * Relative file names in the SQL (`read_csv('x.csv')`) resolve against the script's directory,
 * as in kptn. Never rejects.
 */
export async function runSqlTask(req: SqlTaskRequest, log: TaskLog): Promise<SqlTaskOutcome> {
  const written = req.task.file ?? "";
  const script = path.resolve(req.root, written);
  let statements: SqlStatement[];
  try {
    statements = splitSqlStatements(readFileSync(script, "utf8"));
  } catch (err) {
    return { status: "failed", error: `cannot read ${written}: ${(err as Error).message}` };
  }
  const params = sqlParams(req.inputs);
  for (const s of statements) {
    const unset = s.params.filter((p) => !(p in params));
    if (unset.length > 0)
      return {
        status: "failed",
        error: `${written}:${s.line}:${s.column}: ${unset.map((p) => `$${p}`).join(", ")} not set: add ${unset.length === 1 ? "it" : "them"} to config or to the task's args`,
      };
  }
  const db = databaseOf(req);
  writeTaskLog(log, `database: ${db}\n`);
  try {
    return await withDatabase(
      db,
      {
        readOnly: false,
        feature: `SQL task '${req.task.name}'`,
        ...(req.signal === undefined ? {} : { signal: req.signal }),
      },
      (c) => runInTransaction(c, { req, written, script, statements, params, log }),
    );
  } catch (err) {
    return { status: "failed", error: (err as Error).message };
  }
}

interface Run {
  req: SqlTaskRequest;
  written: string;
  script: string;
  statements: SqlStatement[];
  params: Record<string, SqlValue>;
  log: TaskLog;
}

async function runInTransaction(c: DatabaseConnection, r: Run): Promise<SqlTaskOutcome> {
  let stopped: "timeout" | "cancelled" | undefined;
  const stop = (why: "timeout" | "cancelled") => {
    stopped ??= why;
    c.interrupt();
  };
  const onAbort = () => stop("cancelled");
  const seconds = r.req.timeoutSeconds ?? r.req.task.timeoutSeconds;
  const timer =
    seconds === undefined ? undefined : setTimeout(() => stop("timeout"), seconds * 1000);
  r.req.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (r.req.signal?.aborted) return { status: "cancelled", error: "cancelled" };
    await c.run(`SET file_search_path = '${path.dirname(r.script).replaceAll("'", "''")}'`);
    await c.run("BEGIN TRANSACTION");
    for (const [i, s] of r.statements.entries()) {
      const where = `${r.written}:${s.line}:${s.column}`;
      writeTaskLog(r.log, `-- [${i + 1}/${r.statements.length}] ${where}\n${s.text}\n`);
      let result: StatementResult;
      try {
        result = await c.run(s.text, pick(r.params, s.params), 1);
      } catch (err) {
        const message = (err as Error).message;
        writeTaskLog(r.log, `${message}\n`);
        if (stopped) return endedBy(stopped, c, r.log, seconds);
        await rollback(c, r.log);
        return { status: "failed", error: `${where}: ${firstLine(message)}` };
      }
      writeTaskLog(r.log, `-> ${describe(result)}\n`);
    }
    // A timeout or cancel that lands after the last statement still keeps nothing.
    const ended = stopped ? await endedBy(stopped, c, r.log, seconds) : undefined;
    if (ended !== undefined) return ended;
    try {
      await c.run("COMMIT");
    } catch (err) {
      if (stopped) return endedBy(stopped, c, r.log, seconds);
      writeTaskLog(r.log, `${(err as Error).message}\n`);
      await rollback(c, r.log);
      return {
        status: "failed",
        error: `${r.written}: COMMIT failed: ${firstLine((err as Error).message)}`,
      };
    }
    writeTaskLog(r.log, `committed ${r.statements.length} statement(s)\n`);
    return { status: "succeeded" };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    r.req.signal?.removeEventListener("abort", onAbort);
  }
}

/** Rolls back a transaction a timeout or cancel stopped, and says so. */
async function endedBy(
  stopped: "timeout" | "cancelled",
  c: DatabaseConnection,
  log: TaskLog,
  seconds: number | undefined,
): Promise<{ status: "timeout" | "cancelled"; error: string }> {
  await rollback(c, log);
  return stopped === "timeout"
    ? { status: "timeout", error: `timed out after ${seconds}s` }
    : { status: "cancelled", error: "cancelled" };
}

async function rollback(c: DatabaseConnection, log: TaskLog): Promise<void> {
  try {
    await c.run("ROLLBACK");
    writeTaskLog(log, "rolled back: no statement of this attempt is kept\n");
  } catch {
    // DuckDB already ended the transaction (an interrupted one): nothing is kept either way.
  }
}

/**
 * Item values over `args` over `config`, as statement parameters; kptn's `duckdb` connection
 * spec is not one.
 */
function sqlParams(inputs: SqlTaskRequest["inputs"]): Record<string, SqlValue> {
  const out: Record<string, SqlValue> = {};
  for (const [k, v] of Object.entries({ ...inputs.config, ...inputs.args, ...inputs.item })) {
    if (k === "duckdb") continue;
    out[k] =
      v === null ||
      typeof v === "string" ||
      typeof v === "number" ||
      typeof v === "boolean" ||
      typeof v === "bigint"
        ? v
        : JSON.stringify(v);
  }
  return out;
}

function pick(params: Record<string, SqlValue>, names: readonly string[]) {
  return Object.fromEntries(names.map((n) => [n, params[n]!]));
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.trim();
}

/** One line for the log: the rows a statement created, changed or returned. */
function describe(result: StatementResult): string {
  const [count] = result.rows[0] ?? [];
  if (result.columns.length === 1 && result.columns[0] === "Count" && count !== undefined)
    return `${String(count)} row(s)`;
  if (result.rowsChanged > 0) return `${result.rowsChanged} row(s) changed`;
  return "ok";
}
