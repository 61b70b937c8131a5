import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

/**
 * kptn runs SQL tasks on the connection `config.duckdb`'s function returns. The function here
 * answers DuckDB's `PRAGMA database_list` as a DuckDB connection does (Python's duckdb package is
 * not needed to show which file dagwright picks).
 */
const UTILS = `import os

class Result:
    def __init__(self, rows):
        self.rows = rows
    def fetchall(self):
        return self.rows

class Connection:
    def __init__(self, database):
        self.database = database
    def execute(self, sql):
        assert sql == "PRAGMA database_list", sql
        return Result([(0, "main", os.path.abspath(self.database))])
    def close(self):
        pass

def get_engine(database: str = "data/example.ddb"):
    with open("calls.log", "a") as f:
        f.write("get_engine\\n")
    return Connection(database)
`;

const SPEC = `settings:
  py_tasks_dir: src
  duckdb_tasks_dir: src
  db: duckdb
config:
  duckdb:
    function: src.utils:get_engine
    parameter_name: engine
graphs:
  g:
    tasks:
      numbers:
tasks:
  numbers:
    file: src/numbers.sql
    outputs:
    - duckdb://main.numbers
`;

describe("a kptn project's DuckDB database", () => {
  it("is the file config.duckdb's function opens, so SQL and Python tasks share it", () => {
    const dir = makeProject({
      "kptn.yaml": SPEC,
      "src/__init__.py": "",
      "src/utils.py": UTILS,
      "src/numbers.sql": "create or replace table numbers as select * from range(3) t(n);\n",
      "data/.keep": "",
    });
    const r = runCli(["run"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(path.join(dir, "data", "example.ddb"))).toBe(true);
    expect(existsSync(path.join(dir, ".dagwright", "project.duckdb"))).toBe(false);
    expect(runCli(["run"], dir).stderr).toMatch(/0 ran, 1 fresh/);
    // Asked once, then remembered (keyed on the function's module): opening the file again would
    // create it and wait on other processes' locks.
    expect(readFileSync(path.join(dir, "calls.log"), "utf8")).toBe("get_engine\n");
    appendFileSync(path.join(dir, "src", "utils.py"), "\n# edited\n");
    expect(runCli(["run"], dir).code).toBe(0);
    expect(readFileSync(path.join(dir, "calls.log"), "utf8")).toBe("get_engine\nget_engine\n");
  });

  it("stops with what failed and how to fix it when the function cannot tell", () => {
    const dir = makeProject({
      "kptn.yaml": SPEC,
      "src/__init__.py": "",
      "src/utils.py": "def get_engine():\n    raise RuntimeError('no credentials')\n",
      "src/numbers.sql": "select 1;\n",
    });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "cannot find the project database: config.duckdb: RuntimeError: no credentials",
    );
    expect(r.stderr).toContain("hint: set settings.db_path in kptn.yaml");
    // settings.db_path decides without asking the function.
    writeFileSync(
      path.join(dir, "kptn.yaml"),
      SPEC.replace("  db: duckdb\n", "  db: duckdb\n  db_path: my.ddb\n"),
    );
    writeFileSync(path.join(dir, "src", "numbers.sql"), "create table numbers as select 1 as n;\n");
    const ok = runCli(["run"], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(path.join(dir, "my.ddb"))).toBe(true);
  });
});
