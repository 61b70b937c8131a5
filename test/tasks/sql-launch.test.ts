// launchTask on SQL tasks (the library entry every executor uses), without the CLI.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { launchTask } from "../../src/tasks/launch-task.js";
import { queryRows, tablesOf } from "./duckdb-helpers.js";
import { makeTask, tempProject } from "./helpers.js";

const project = tempProject("sql");

describe("launchTask on a SQL task", () => {
  it("runs a SQL task on the database DAGWRIGHT_DUCKDB_PATH names", async () => {
    project.write("q.sql", "create table q as select 42 as answer;");
    const db = path.join(project.root, "data", "q.duckdb");
    const r = await launchTask(
      project.request(makeTask({ name: "q", kind: "sql", file: "q.sql" }), {
        env: { DAGWRIGHT_DUCKDB_PATH: db },
      }),
    );
    expect(r.status).toBe("succeeded");
    expect(await queryRows(db, "select answer from q")).toEqual([[42]]);
  });

  it("times out a SQL task's long statement, keeping none of its work", async () => {
    project.write(
      "slow.sql",
      "create table early as select 1 as x;\nselect count(*) from range(100000000000);",
    );
    const db = path.join(project.root, "slow.duckdb");
    const task = makeTask({ name: "slow", kind: "sql", file: "slow.sql", timeoutSeconds: 0.3 });
    const r = await launchTask(project.request(task, { env: { DAGWRIGHT_DUCKDB_PATH: db } }));
    expect(r).toMatchObject({ status: "timeout", error: "timed out after 0.3s" });
    expect(await tablesOf(db)).toEqual([]);
  });

  it("cancels a SQL task through the AbortSignal, keeping none of its work", async () => {
    project.write(
      "long.sql",
      "create table early as select 1 as x;\nselect count(*) from range(100000000000);",
    );
    const db = path.join(project.root, "long.duckdb");
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const r = await launchTask(
      project.request(makeTask({ name: "long", kind: "sql", file: "long.sql" }), {
        env: { DAGWRIGHT_DUCKDB_PATH: db },
        signal: abort.signal,
      }),
    );
    expect(r).toMatchObject({ status: "cancelled", error: "cancelled" });
    expect(await tablesOf(db)).toEqual([]);
  });
});
