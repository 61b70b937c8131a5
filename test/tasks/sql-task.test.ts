// SQL tasks on the project's DuckDB database, through the real CLI in temp projects.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli as runCliRaw } from "../helpers.js";
import { execSql, PY_DUCKDB, queryRows, tablesOf } from "./duckdb-helpers.js";

const SPEC = `config:
  min_id: 2
graphs:
  main:
    tasks:
      raw:
      metrics: raw
      report: metrics
tasks:
  raw:
    file: sql/raw.sql
    duckdb_checkpoint: true
    outputs: [duckdb://main.raw]
  metrics:
    file: sql/metrics.sql
    outputs: [duckdb://metrics]
  report:
    file: report.py
    outputs: [out/report.txt]
`;

const RAW = `-- the raw numbers
create or replace table raw as
select * from (values (1, 'apple'), (2, 'banana'), (3, 'cherry')) as t(id, fruit);
`;

const METRICS = `create or replace table metrics as
select id, fruit, length(fruit) as name_length from raw where id >= $min_id;
insert into metrics values (9, 'a;b', 3); -- a ';' inside a string ends nothing
`;

const REPORT = `import os
from duck import sql

rows = sql("select fruit, name_length from metrics order by id")
os.makedirs("out", exist_ok=True)
with open("out/report.txt", "w") as f:
    for fruit, n in rows:
        f.write(f"{fruit} {n}\\n")
`;

function project(files: Record<string, string> = {}): string {
  return makeProject({
    "dagwright.yaml": SPEC,
    "sql/raw.sql": RAW,
    "sql/metrics.sql": METRICS,
    "report.py": REPORT,
    "duck.py": PY_DUCKDB,
    ...files,
  });
}

/** The CLI, with what it printed for people (progress goes to stderr) as `out`. */
function runCli(args: string[], dir: string): { code: number; out: string } {
  const r = runCliRaw(args, dir);
  return { code: r.code, out: r.stdout + r.stderr };
}

/** The tasks a run started, in order (`▶ name: reason` lines). */
function started(out: string): string[] {
  return [...out.matchAll(/^▶ (\S+):/gm)].map((m) => m[1]!);
}

const db = (dir: string) => path.join(dir, ".dagwright", "project.duckdb");

describe("SQL tasks", () => {
  it("run their statements on the project database, and a Python task reads the table after", async () => {
    const dir = project();
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(started(r.out)).toEqual(["raw", "metrics", "report"]);
    expect(readFileSync(path.join(dir, "out/report.txt"), "utf8")).toBe(
      "banana 6\ncherry 6\na;b 3\n",
    );
    expect(await tablesOf(db(dir))).toEqual(["main.metrics", "main.raw"]);
  });

  it("write each statement and its row count to the task log", () => {
    const dir = project();
    runCli(["run"], dir);
    const log = runCli(["logs", "main", "metrics"], dir).out;
    expect(log).toContain(
      "-- [1/2] sql/metrics.sql:1:1\ncreate or replace table metrics as\nselect id, fruit, length(fruit) as name_length from raw where id >= $min_id\n-> 2 row(s)\n",
    );
    expect(log).toContain("-- [2/2] sql/metrics.sql:3:1\n");
    expect(log).toContain("committed 2 statement(s)");
  });

  it("rerun nothing on a second run", () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(started(r.out)).toEqual([]);
    expect(r.out).toContain("0 ran, 3 fresh");
  });

  it("keep downstream fresh when an edited upstream SQL file writes the same table", () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    writeFileSync(path.join(dir, "sql/raw.sql"), RAW.replace("-- the raw numbers", "-- same"));
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(started(r.out)).toEqual(["raw"]);
    expect(r.out).toContain("1 ran, 2 fresh");
  });

  it("rerun downstream when the upstream table's content changes", () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    writeFileSync(path.join(dir, "sql/raw.sql"), RAW.replace("'cherry'", "'cherries'"));
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(started(r.out)).toEqual(["raw", "metrics", "report"]);
    expect(r.out).toContain("▶ metrics: upstream output changed: raw");
    expect(readFileSync(path.join(dir, "out/report.txt"), "utf8")).toContain("cherries 8\n");
  });

  it("rerun a task whose table was changed outside dagwright", async () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    // Until a run is answered from the no-change memo, which must see the edit too.
    const fromMemo = () =>
      runCliRaw(["run", "--json"], dir).stdout.includes('"nothingChanged":true');
    expect(fromMemo() || fromMemo() || fromMemo()).toBe(true);
    await execSql(db(dir), "delete from metrics where id = 9");
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(r.out).toContain("▶ metrics: output modified: duckdb://metrics");
    expect(started(r.out)).toEqual(["metrics"]);
  });

  it("fail on a bad statement with its file:line and DuckDB's message, keeping nothing of it", async () => {
    const dir = project({
      "sql/metrics.sql": `create table partial as select 1 as x;

select * from no_such_table;
`,
    });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "✗ metrics: sql/metrics.sql:3:1: Catalog Error: Table with name no_such_table does not exist!",
    );
    expect(r.out).toContain("rolled back: no statement of this attempt is kept");
    expect(await tablesOf(db(dir))).toEqual(["main.raw"]);
    // Nothing recorded: the next run tries again.
    expect(runCli(["run"], dir).out).toContain("▶ metrics: failed last time");
  });

  it("fail when the declared table was not written, and record nothing", () => {
    const dir = project({
      "sql/metrics.sql": "create or replace table other as select 1 as x;\n",
    });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "✗ metrics: exited 0 but did not write its declared output: duckdb://metrics",
    );
    expect(runCli(["run"], dir).out).toContain("▶ metrics: failed last time");
  });

  it("fail before touching the database when a $name parameter is not set", async () => {
    const dir = project({ "sql/metrics.sql": "create table m as select $nope as x;\n" });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "✗ metrics: sql/metrics.sql:1:1: $nope not set: add it to config or to the task's args",
    );
  });

  it("rerun only for the config keys their $name parameters use", () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    const edited = (spec: string) => writeFileSync(path.join(dir, "dagwright.yaml"), spec);
    edited(SPEC.replace("  min_id: 2\n", "  min_id: 2\n  unrelated: 1\n"));
    expect(started(runCli(["run"], dir).out)).toEqual(["report"]); // a script gets all config
    edited(SPEC.replace("min_id: 2", "min_id: 3"));
    const r = runCli(["run"], dir);
    expect(r.out).toContain("▶ metrics: config changed: min_id");
    expect(started(r.out)).toEqual(["metrics", "report"]);
  });

  it("take $name parameters from the task's args over config", async () => {
    const dir = project({
      "dagwright.yaml": SPEC.replace(
        "    file: sql/metrics.sql\n",
        "    file: sql/metrics.sql\n    args: {min_id: 3}\n",
      ),
    });
    expect(runCli(["run"], dir).code).toBe(0);
    expect(await queryRows(db(dir), "select id from metrics order by id")).toEqual([[3], [9]]);
  });

  it("use settings.db_path as the project database", async () => {
    const dir = project({
      "dagwright.yaml": `settings:\n  db_path: data/warehouse.duckdb\n${SPEC}`,
    });
    expect(runCli(["run"], dir).code).toBe(0);
    expect(await tablesOf(path.join(dir, "data/warehouse.duckdb"))).toEqual([
      "main.metrics",
      "main.raw",
    ]);
    expect(existsSync(db(dir))).toBe(false);
  });

  it("copy the database to a checkpoint after a task with duckdb_checkpoint succeeds", async () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    const checkpoint = path.join(dir, ".dagwright", "project.raw.backup.duckdb");
    // Taken right after raw: metrics did not exist yet.
    expect(await tablesOf(checkpoint)).toEqual(["main.raw"]);
  });

  it("resume from the last checkpoint when the database file is gone", async () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    rmSync(db(dir));
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    // raw's table came back with the checkpoint; metrics rewrote the same table, so report is fresh.
    expect(started(r.out)).toEqual(["metrics"]);
    expect(r.out).toContain("▶ metrics: output missing: duckdb://metrics");
    expect(await tablesOf(db(dir))).toEqual(["main.metrics", "main.raw"]);
  });

  it("run through run-task like any task, fresh the second time", async () => {
    const dir = project();
    const r = runCli(["run-task", "main", "raw"], dir);
    expect(r.code).toBe(0);
    expect(await tablesOf(db(dir))).toEqual(["main.raw"]);
    expect(runCli(["run", "--only", "raw"], dir).out).toContain("0 ran, 1 fresh");
  });
});

describe("duckdb:// outputs of Python tasks", () => {
  const spec = `graphs:
  main:
    tasks:
      source:
      consumer: source
tasks:
  source:
    file: source.py
    outputs: [duckdb://main.source_table]
  consumer:
    file: consumer.sql
    outputs: [duckdb://main.consumer]
`;
  const source = `from duck import sql
# version 1
sql("create or replace table main.source_table as select 1 as id, 'payload' as payload")
`;
  const files = {
    "dagwright.yaml": spec,
    "duck.py": PY_DUCKDB,
    "source.py": source,
    "consumer.sql":
      "create or replace table main.consumer as select id, upper(payload) as p from main.source_table;\n",
  };

  it("are hashed by content, so a rerun that writes the same table keeps the SQL task downstream fresh", async () => {
    const dir = makeProject(files);
    const first = runCli(["run"], dir);
    expect(first.code).toBe(0);
    expect(started(first.out)).toEqual(["source", "consumer"]);
    writeFileSync(path.join(dir, "source.py"), source.replace("# version 1", "# version 2"));
    const second = runCli(["run"], dir);
    expect(started(second.out)).toEqual(["source"]);
    expect(second.out).toContain("1 ran, 1 fresh");
    expect(await queryRows(db(dir), "select * from main.consumer")).toEqual([[1, "PAYLOAD"]]);
  });

  it("fail the Python task when its table is missing", () => {
    const dir = makeProject({ ...files, "source.py": "print('wrote nothing')\n" });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "✗ source: exited 0 but did not write its declared output: duckdb://main.source_table",
    );
  });
});

describe("tasks on the project database", () => {
  it("take turns: SQL tasks and a Python task writing tables all succeed side by side", async () => {
    const tasks = ["a", "b", "c"];
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  main:\n    tasks:\n${[...tasks, "py"].map((t) => `      ${t}:\n`).join("")}tasks:\n${tasks
        .map((t) => `  ${t}:\n    file: sql/${t}.sql\n    outputs: [duckdb://${t}]\n`)
        .join("")}  py:\n    file: py.py\n    outputs: [duckdb://py]\n`,
      ...Object.fromEntries(
        tasks.map((t) => [
          `sql/${t}.sql`,
          // Long enough that the Python task starts while one of them holds the file.
          `create table ${t} as select sum(range) as s from range(300000000);`,
        ]),
      ),
      "duck.py": PY_DUCKDB,
      "py.py": `from duck import sql\nsql("create table py as select 1 as x")\n`,
    });
    const r = runCli(["run", "-j", "5"], dir);
    expect(r.out).toContain("4 ran, 0 fresh");
    expect(r.code).toBe(0);
    expect(await tablesOf(db(dir))).toEqual(["main.a", "main.b", "main.c", "main.py"]);
  });

  it("take turns with the items of a mapped Python function that writes a table", async () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  main:
    tasks:
      slow:
      keys:
      per_key: keys
tasks:
  slow:
    file: slow.sql
    outputs: [duckdb://slow]
  keys:
    file: keys.py
    cache_result: true
    iterable_item: key
  per_key:
    file: per_key.py
    map_over: key
    outputs: [duckdb://seen]
`,
      "slow.sql": "create table slow as select sum(range) as s from range(300000000);\n",
      "keys.py": 'def keys():\n    return ["k1", "k2"]\n',
      "per_key.py": `from duck import sql


def per_key(key):
    sql("create table if not exists seen (k varchar)")
    sql(f"insert into seen values ('{key}')")
`,
      "duck.py": PY_DUCKDB,
    });
    const r = runCli(["run", "-j", "3"], dir);
    expect(r.code).toBe(0);
    expect(await queryRows(db(dir), "select k from seen order by k")).toEqual([["k1"], ["k2"]]);
  });
});

describe("a mapped SQL task", () => {
  it("fills $name parameters from each item's values", async () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  main:
    tasks:
      fruits:
      per_fruit: fruits
tasks:
  fruits:
    file: fruits.py
    cache_result: true
    iterable_item: fruit
  per_fruit:
    file: per_fruit.sql
    map_over: fruit
`,
      "fruits.py": 'def fruits():\n    return ["apple", "kiwi"]\n',
      "per_fruit.sql":
        "create table if not exists seen (f varchar);\ninsert into seen values ($fruit);\n",
    });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(await queryRows(db(dir), "select f from seen order by f")).toEqual([
      ["apple"],
      ["kiwi"],
    ]);
  });
});

describe("SQL tasks pod by pod, with a shared artifact location", () => {
  it("pull the database that holds upstream tables and push it back before recording", async () => {
    const shared = makeProject({ "artifacts/.keep": "" });
    const env = {
      DAGWRIGHT_STATE_URL: path.join(shared, "state.db"),
      DAGWRIGHT_ARTIFACTS_URL: path.join(shared, "artifacts"),
      DAGWRIGHT_BRANCH: "pods",
    };
    const files = {
      "dagwright.yaml": SPEC,
      "sql/raw.sql": RAW,
      "sql/metrics.sql": METRICS,
      "report.py": REPORT,
      "duck.py": PY_DUCKDB,
    };
    const pod = () => makeProject(files);
    const [podA, podB, podC] = [pod(), pod(), pod()];
    expect(runCliRaw(["run-task", "main", "raw"], podA, env).code).toBe(0);
    const b = runCliRaw(["run-task", "main", "metrics"], podB, env);
    expect(b.stderr).toContain("✓ metrics");
    expect(b.code).toBe(0);
    const c = runCliRaw(["run-task", "main", "metrics"], podC, env);
    expect(c.stderr).toContain("· metrics fresh");
    expect(await tablesOf(db(podC))).toEqual(["main.metrics", "main.raw"]);
    // A task with no table upstream still starts from the shared database, keeping its tables.
    const podD = pod();
    writeFileSync(
      path.join(podD, "dagwright.yaml"),
      `${SPEC}  other:\n    file: sql/other.sql\n    outputs: [duckdb://other]\n`.replace(
        "      report: metrics\n",
        "      report: metrics\n      other:\n",
      ),
    );
    writeFileSync(path.join(podD, "sql/other.sql"), "create table other as select 1 as x;\n");
    expect(runCliRaw(["run-task", "main", "other"], podD, env).code).toBe(0);
    expect(await tablesOf(path.join(shared, "artifacts", ".dagwright", "project.duckdb"))).toEqual([
      "main.metrics",
      "main.other",
      "main.raw",
    ]);
  });
});
