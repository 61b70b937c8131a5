import { describe, expect, it } from "vitest";
import { checkDuckdbDriver, checkRuntimes } from "../../src/cli/preflight.js";
import { makeProject, makeTask, runCli } from "../helpers.js";

const lookup = { env: { PATH: "" }, cwd: "/" };

describe("the DuckDB driver check", () => {
  it("is made for SQL tasks and tasks with duckdb:// outputs only", () => {
    const sql = makeTask({ name: "load", kind: "sql", file: "load.sql" });
    const py = makeTask({ name: "py", kind: "node", file: "t.ts", outputs: ["duckdb://t"] });
    const other = makeTask({ name: "other", kind: "node", file: "o.ts" });
    expect(checkRuntimes([other], {}, lookup).map((c) => c.id)).toEqual(["runtime:node"]);
    const check = checkRuntimes([sql, py, other], {}, lookup).find(
      (c) => c.id === "runtime:duckdb",
    );
    expect(check).toMatchObject({
      status: "ok",
      message: expect.stringMatching(/^@duckdb\/node-api \S+ \(DuckDB tasks: load, py\)$/),
    });
  });

  it("fails with the install command when @duckdb/node-api is missing", () => {
    expect(checkDuckdbDriver(["load"], () => undefined)).toEqual({
      id: "runtime:duckdb",
      status: "fail",
      message: "the npm package @duckdb/node-api is not installed (DuckDB tasks: load)",
      fix: "install it in your project, next to dagwright: npm install @duckdb/node-api",
    });
  });

  it("is listed by doctor for a project with SQL tasks", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g:\n    tasks:\n      load:\ntasks:\n  load:\n    file: load.sql\n",
      "load.sql": "select 1;\n",
    });
    const r = runCli(["doctor"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^✓ @duckdb\/node-api \S+ \(DuckDB tasks: load\)$/m);
  });
});
