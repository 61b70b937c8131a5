import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { hashDuckdbTables, parseDuckdbOutput } from "../../src/fingerprint/duckdb-table-hash.js";
import { execSql } from "../tasks/duckdb-helpers.js";

const require = createRequire(import.meta.url);

function database(): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-duckdb-")), "t.duckdb");
}

async function hashOf(db: string, output = "duckdb://main.t") {
  return (await hashDuckdbTables(db, [output])).get(output);
}

describe("parseDuckdbOutput", () => {
  it("reads schema.table, and a bare table as schema main", () => {
    expect(parseDuckdbOutput("duckdb://s.t")).toEqual({ schema: "s", table: "t" });
    expect(parseDuckdbOutput("duckdb://t")).toEqual({ schema: "main", table: "t" });
    expect(parseDuckdbOutput("duckdb://")).toBeUndefined();
    expect(parseDuckdbOutput("out/t.csv")).toBeUndefined();
  });
});

describe("hashDuckdbTables", () => {
  it("gives the same hash to the same rows in another order", async () => {
    const db = database();
    await execSql(db, "create table t as select * from (values (1, 'a'), (2, 'b')) v(id, s)");
    const first = await hashOf(db);
    await execSql(
      db,
      "create or replace table t as select * from (values (2, 'b'), (1, 'a')) v(id, s)",
    );
    expect(await hashOf(db)).toEqual(first);
    expect(first?.rows).toBe(2);
  });

  it("changes with a row's content, a column's type or a column's name", async () => {
    const db = database();
    await execSql(db, "create table t as select 1::INTEGER as id, 'a' as s");
    const base = (await hashOf(db))?.hash;
    await execSql(db, "create or replace table t as select 1::INTEGER as id, 'b' as s");
    const content = (await hashOf(db))?.hash;
    await execSql(db, "create or replace table t as select 1::BIGINT as id, 'a' as s");
    const type = (await hashOf(db))?.hash;
    await execSql(db, "create or replace table t as select 1::INTEGER as key, 'a' as s");
    const name = (await hashOf(db))?.hash;
    expect(new Set([base, content, type, name]).size).toBe(4);
  });

  it("tells an empty table from a missing one", async () => {
    const db = database();
    expect(await hashOf(db)).toBeUndefined(); // no database file yet
    await execSql(db, "create schema s; create table s.t (x int)");
    expect(await hashOf(db, "duckdb://s.t")).toMatchObject({ rows: 0 });
    expect(await hashOf(db, "duckdb://s.other")).toBeUndefined();
  });

  it("waits for another process that holds the file, and says so when it holds it too long", async () => {
    const db = database();
    await execSql(db, "create table t as select 1 as x");
    const holder = holdFile(db, 1500);
    await holder.opened;
    await expect(hashDuckdbTables(db, ["duckdb://t"], { lockWaitMs: 200 })).rejects.toThrow(
      `the DuckDB database ${db} is held by another process`,
    );
    // Given long enough, it gets the file once the holder closes it.
    expect(
      (await hashDuckdbTables(db, ["duckdb://t"], { lockWaitMs: 20_000 })).get("duckdb://t"),
    ).toMatchObject({ rows: 1 });
    await holder.exited;
  });
});

/** Another process that opens `db` for writing and closes it after `ms`. */
function holdFile(db: string, ms: number) {
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const { DuckDBInstance } = require(${JSON.stringify(require.resolve("@duckdb/node-api"))});
      DuckDBInstance.create(process.argv[1]).then((d) => {
        console.log("open");
        setTimeout(() => d.closeSync(), ${ms});
      });`,
      db,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return {
    opened: new Promise<void>((resolve) => child.stdout.once("data", () => resolve())),
    exited: new Promise<void>((resolve) => child.once("exit", () => resolve())),
  };
}
