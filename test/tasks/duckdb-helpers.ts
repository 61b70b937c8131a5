import { createRequire } from "node:module";
import path from "node:path";
import type * as Duckdb from "@duckdb/node-api";
import { REPO } from "../helpers.js";

const duckdb = createRequire(import.meta.url)("@duckdb/node-api") as typeof Duckdb;

/** The rows of `sql` in the DuckDB file `db` (opened read-only, closed after), as JSON values. */
export async function queryRows(db: string, sql: string): Promise<unknown[][]> {
  const instance = await duckdb.DuckDBInstance.create(db, { access_mode: "READ_ONLY" });
  try {
    const c = await instance.connect();
    try {
      return (await c.runAndReadAll(sql)).getRowsJson() as unknown[][];
    } finally {
      c.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** Runs `sql` on the DuckDB file `db` (created when absent), outside any dagwright run. */
export async function execSql(db: string, sql: string): Promise<void> {
  const instance = await duckdb.DuckDBInstance.create(db);
  try {
    const c = await instance.connect();
    try {
      await c.run(sql);
    } finally {
      c.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** The tables of the DuckDB file `db`, `schema.table`, sorted. */
export async function tablesOf(db: string): Promise<string[]> {
  const rows = await queryRows(
    db,
    "SELECT table_schema || '.' || table_name FROM information_schema.tables ORDER BY 1",
  );
  return rows.map((r) => String(r[0]));
}

/**
 * A Python module for test projects: `sql(statement)` runs one statement on the project database
 * (`DAGWRIGHT_DUCKDB_PATH`) in a separate process and returns its rows, so Python tasks can read
 * and write tables without the Python duckdb package (not installed here): what matters is that
 * another process opens the file while dagwright does not hold it.
 */
export const PY_DUCKDB = `import json, os, subprocess

READER = """
const { DuckDBInstance } = require("@duckdb/node-api");
(async () => {
  const db = await DuckDBInstance.create(process.argv[1]);
  const c = await db.connect();
  const r = await c.runAndReadAll(process.argv[2]);
  process.stdout.write(JSON.stringify(r.getRowsJson()));
  c.closeSync();
  db.closeSync();
})();
"""


def sql(statement):
    out = subprocess.run(
        ["node", "-e", READER, os.environ["DAGWRIGHT_DUCKDB_PATH"], statement],
        capture_output=True, text=True,
        env={**os.environ, "NODE_PATH": ${JSON.stringify(path.join(REPO, "node_modules"))}},
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout or "[]")
`;
