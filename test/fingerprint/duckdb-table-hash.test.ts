import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { hashDuckdbTables, parseDuckdbOutput } from "../../src/fingerprint/duckdb-table-hash.js";
import { execSql } from "../tasks/duckdb-helpers.js";

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
});
