import { databaseExists, withDatabase } from "../spec/duckdb-database.js";
import { hashValue } from "./hash-value.js";

/** The table a `duckdb://schema.table` output names (`duckdb://table` is in schema `main`). */
export interface DuckdbTableRef {
  schema: string;
  table: string;
}

/** The content fingerprint of one table, and its row count (recorded as the output's size). */
export interface TableHash {
  hash: string;
  rows: number;
}

const PREFIX = "duckdb://";
const READ_LOCK_WAIT_MS = 60_000;

/** Whether an output declaration names a DuckDB table rather than files. */
export function isDuckdbOutput(output: string): boolean {
  return output.startsWith(PREFIX);
}

/** The schema and table of a `duckdb://` output; undefined when it names none. Pure. */
export function parseDuckdbOutput(output: string): DuckdbTableRef | undefined {
  if (!isDuckdbOutput(output)) return undefined;
  const rest = output.slice(PREFIX.length);
  const dot = rest.indexOf(".");
  const schema = dot < 0 ? "main" : rest.slice(0, dot);
  const table = dot < 0 ? rest : rest.slice(dot + 1);
  return schema === "" || table === "" ? undefined : { schema, table };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Hashes the tables `outputs` (`duckdb://schema.table`) name in the database `file`: the column
 * names and types in order, plus an order-insensitive hash of the rows (kptn's: md5 of the
 * sorted per-row `md5(row::TEXT)`), so the same content written in another order, or by another
 * run, has the same hash. A table that does not exist (or a database file that does not) maps
 * to undefined. Opens the file read-only for the duration, taking this process's turn on it, and
 * waits up to `lockWaitMs` (default a minute) for another process that holds it.
 *
 * @throws DagwrightError `E_ENV` when `@duckdb/node-api` is not installed or another process
 *   holds the file past `lockWaitMs`.
 */
export async function hashDuckdbTables(
  file: string,
  outputs: readonly string[],
  options: { lockWaitMs?: number; signal?: AbortSignal } = {},
): Promise<Map<string, TableHash | undefined>> {
  const hashes = new Map<string, TableHash | undefined>();
  for (const o of outputs) hashes.set(o, undefined);
  if (outputs.length === 0 || !databaseExists(file)) return hashes;
  await withDatabase(
    file,
    // A reader (status, planning) waits a minute for another process, not a writer's ten.
    { readOnly: true, feature: "duckdb:// outputs", lockWaitMs: READ_LOCK_WAIT_MS, ...options },
    async (db) => {
      for (const output of outputs) {
        const ref = parseDuckdbOutput(output);
        if (ref === undefined) continue;
        const columns = await db.run(
          "SELECT column_name, data_type FROM information_schema.columns " +
            "WHERE table_catalog = current_database() AND lower(table_schema) = lower($schema) " +
            "AND lower(table_name) = lower($table) ORDER BY ordinal_position",
          { schema: ref.schema, table: ref.table },
          100_000,
        );
        if (columns.rows.length === 0) continue;
        const content = await db.run(
          "SELECT coalesce(md5(string_agg(h, '' ORDER BY h)), md5('')), count(*) " +
            `FROM (SELECT md5(t::VARCHAR) AS h FROM ${quoteIdent(ref.schema)}.${quoteIdent(ref.table)} AS t)`,
          undefined,
          1,
        );
        const [digest, count] = content.rows[0] ?? [];
        hashes.set(output, {
          hash: hashValue({
            columns: columns.rows.map((r) => r.map(String)),
            rows: String(digest),
          }),
          rows: Number(count ?? 0),
        });
      }
    },
  );
  return hashes;
}
