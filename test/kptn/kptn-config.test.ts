import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

/** kptn's duckdb example config block (example/duckdb_example/kptn.yaml of kptn 0.1.17). */
const SPEC = `settings:
  py_tasks_dir: src
config:
  my_global: 42
  duckdb:
    function: src.utils:get_engine
    parameter_name: engine
  config:
    include: config.json
graphs:
  g:
    tasks:
      use_engine:
      summary: use_engine
tasks:
  use_engine:
    file: src/tasks.py
  summary:
    file: src/tasks.py:summary
    cache_result: true
`;

/** A stand-in for a DuckDB connection factory: records who asked and when it was closed. */
const UTILS = `import json, os

class Engine:
    def __init__(self, database, who):
        self.database, self.who = database, who
    def close(self):
        with open(os.path.join(os.environ["OUTPUT_PIPELINE_DIR"], "closed-" + self.who), "w") as f:
            f.write(self.database)

def get_engine(database: str = "example.ddb", task_info=None):
    return Engine(database, task_info["task_name"])
`;

const TASKS = `import json, os
from pathlib import Path
from kptn.util.runtime_config import RuntimeConfig
from kptn.util.pipeline_config import PipelineConfig

def use_engine(engine, config, my_global, runtime_config: RuntimeConfig, pipeline_config: PipelineConfig):
    out = Path(pipeline_config.scratch_dir) / "use_engine.json"
    out.write_text(json.dumps({
        "database": engine.database,
        "same": runtime_config.duckdb is engine,
        "config": config,
        "my_global": my_global,
        "graph": pipeline_config.PIPELINE_NAME,
    }))

def summary(runtime_config):
    return {"var": runtime_config.config["my_var"], "global": runtime_config.my_global}
`;

function project(): string {
  return makeProject({
    "kptn.yaml": SPEC,
    "config.json": JSON.stringify({ my_var: "Hello" }),
    "src/__init__.py": "",
    "src/utils.py": UTILS,
    "src/tasks.py": TASKS,
  });
}

describe("kptn config features", () => {
  it("includes files, injects a module:function value under its parameter name, and closes it", () => {
    const dir = project();
    const r = runCli(["run", "--json"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const scratch = path.join(dir, "scratch", "g");
    const seen = JSON.parse(readFileSync(path.join(scratch, "use_engine.json"), "utf8"));
    expect(seen).toEqual({
      database: "example.ddb",
      same: true,
      config: { my_var: "Hello" },
      my_global: 42,
      graph: "g",
    });
    expect(readFileSync(path.join(scratch, "closed-use_engine"), "utf8")).toBe("example.ddb");
    const done = runCli(["status", "--json"], dir);
    expect(done.code).toBe(0);
    // Nothing changed: nothing reruns.
    expect(runCli(["run"], dir).stderr).toMatch(/0 ran, 2 fresh/);
  });

  it("reruns the tasks that read an included file when it changes", () => {
    const dir = project();
    expect(runCli(["run"], dir).code).toBe(0);
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ my_var: "Bye" }));
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/summary: config changed: config/);
  });

  it("reports a missing include file at its line, with a hint", () => {
    const dir = project();
    writeFileSync(path.join(dir, "kptn.yaml"), SPEC.replace("config.json", "nope.json"));
    const r = runCli(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'kptn.yaml:9:14 config.config.include: config include "nope.json" not found',
    );
    expect(r.stderr).toContain("hint: include paths are relative to the spec's directory");
  });

  it("fails the task with the config key and module when a module:function does not import", () => {
    const dir = project();
    writeFileSync(
      path.join(dir, "kptn.yaml"),
      SPEC.replace("src.utils:get_engine", "src.nothere:get_engine"),
    );
    const r = runCli(["run", "--only", "use_engine"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `config.engine: "src.nothere:get_engine" names module src.nothere, which does not import`,
    );
  });

  it("rejects a config entry with both value and function", () => {
    const dir = project();
    writeFileSync(
      path.join(dir, "kptn.yaml"),
      SPEC.replace(
        "function: src.utils:get_engine",
        "function: src.utils:get_engine\n    value: 3",
      ),
    );
    const r = runCli(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("config.duckdb: a config entry has both value and function");
  });

  it("uses the real kptn package when the project can import one", () => {
    const dir = project();
    // A project-local `kptn` (as an installed kptn would be) wins over dagwright's stand-in.
    writeFileSync(path.join(dir, "kptn.py"), "raise ImportError('the real kptn was imported')\n");
    const r = runCli(["run", "--only", "use_engine"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the real kptn was imported");
  });
});

describe("kptn 0.2 projects", () => {
  it("says what the project is and what to do", () => {
    const dir = makeProject({
      "kptn.yaml":
        "settings:\n  db: duckdb\n  db_path: .kptn/state.duckdb\nprofiles:\n  prod: {}\n",
      "pipeline.py": "import kptn\n",
    });
    const r = runCli(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("this is a kptn 0.2 project");
    expect(r.stderr).toContain("dagwright reads kptn's 0.1 YAML format");
    expect(r.stderr.match(/error/g)).toHaveLength(2); // the problem and the count: nothing else
  });
});
