import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

const SET_SPEC = `config:
  region: eu
  db: {host: local}
graphs:
  g:
    tasks:
      t:
tasks:
  t: {command: ["true"]}
`;

describe("--set of a key no config defines", () => {
  it.each(["run", "status", "explain", "render"])(
    "%s exits 2 naming the key and the closest one",
    (command) => {
      const dir = makeProject({ "dagwright.yaml": SET_SPEC });
      const args =
        command === "explain"
          ? ["explain", "g", "t"]
          : command === "render"
            ? ["render", "argo", "g", "--out", "rendered"]
            : [command, "g"];
      const r = runCli([...args, "--set", "regoin=us"], dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        'error: --set regoin: no config defines "regoin". Did you mean "region"?',
      );
      expect(r.stderr).toContain("config keys of this graph: region, db");
    },
  );

  it("checks nested keys too, and accepts keys that exist", () => {
    const dir = makeProject({ "dagwright.yaml": SET_SPEC });
    const bad = runCli(["run", "g", "--set", "db.hots=x"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no config defines "db.hots". Did you mean "db.host"?');
    const ok = runCli(["run", "g", "--set", "db.host=remote", "--set", "region=us"], dir);
    expect(ok.stderr).not.toContain("error");
    expect(ok.code).toBe(0);
  });
});

interface RunEvent {
  type: string;
  task?: string;
  reasons?: string[];
}

/** Runs `dagwright run --json`; returns the tasks that started, with their reasons. */
function runJson(dir: string, ...args: string[]) {
  const r = runCli(["run", "--json", ...args], dir);
  const started: Record<string, string[]> = {};
  for (const e of jsonLines<RunEvent>(r.stdout))
    if (e.type === "task-start" && e.task) started[e.task] = e.reasons ?? [];
  return { ...r, started };
}

const listFile = (states: string[]) => `def lst():\n    return ${JSON.stringify(states)}\n`;

const FAN_OUT = {
  "dagwright.yaml": `graphs:
  g:
    tasks:
      lst:
      per_state: lst
      agg: per_state
tasks:
  lst: {file: tasks/lst.py, cache_result: true, iterable_item: state}
  per_state: {file: tasks/per_state.py, map_over: state}
  agg: {command: ["sh", "-c", "echo agg >> calls.txt"]}
`,
  "tasks/lst.py": listFile(["SC", "VA"]),
  // Items write to a store dagwright does not see (no declared outputs), as a database would.
  "tasks/per_state.py": "def per_state(state):\n    return None\n",
};

describe("fan-out: the item keys of a mapped dependency", () => {
  it("rerun the aggregating downstream task when an item is added or removed, naming the items", () => {
    const dir = makeProject(FAN_OUT);
    expect(runJson(dir).code).toBe(0);
    expect(Object.keys(runJson(dir).started)).toEqual([]);

    writeFileSync(path.join(dir, "tasks/lst.py"), listFile(["NC", "SC", "VA"]));
    expect(runJson(dir, "--only", "lst").code).toBe(0);
    const status = runCli(["status"], dir);
    expect(status.stdout).toMatch(/agg +stale +items of per_state changed: \+NC/);
    const added = runJson(dir);
    expect(added.code).toBe(0);
    expect(added.started.agg).toEqual(["items of per_state changed: +NC"]);

    writeFileSync(path.join(dir, "tasks/lst.py"), listFile(["NC", "VA"]));
    const removed = runJson(dir);
    expect(removed.started.agg).toEqual(["items of per_state changed: -SC"]);
    expect(runCli(["explain", "g", "agg"], dir).stdout).toContain("agg: fresh");
    expect(readFileSync(path.join(dir, "calls.txt"), "utf8")).toBe("agg\nagg\nagg\n");
  });

  it("keeps a mapped task fresh, in status and in run, when its list reruns with the same items", () => {
    const dir = makeProject(FAN_OUT);
    expect(runJson(dir).code).toBe(0);
    // Only the list reran (with the same items): every item and the mapped task stay fresh.
    writeFileSync(
      path.join(dir, "tasks/lst.py"),
      listFile(["SC", "VA"]).replace("    return", "    # edit\n    return"),
    );
    const status = runCli(["status"], dir);
    expect(status.stdout).toMatch(/per_state +fresh/);
    expect(Object.keys(runJson(dir).started)).toEqual(["lst"]);
  });
});

const CONFIG_SPEC = (config: string, tz = "UTC") => `config: {${config}}
graphs:
  g:
    tasks:
      py:
      ts:
      ts_none:
      sh:
tasks:
  py: {file: tasks/py.py}
  ts: {file: tasks/ts.ts}
  ts_none: {file: tasks/ts_none.ts}
  sh: {command: ["sh", "-c", "true"], env: {TZ: ${tz}}}
`;

const CONFIG_FILES = {
  "tasks/py.py": "def py(region, pipeline_config):\n    return None\n",
  "tasks/ts.ts":
    "export function ts({ config: { year } }: { config: { year: number } }) {\n  return year;\n}\n",
  "tasks/ts_none.ts": "export function ts_none({ args }: { args: object }) {\n  return args;\n}\n",
};

describe("config dependencies", () => {
  it("reruns only the script task when a key no function receives changes", () => {
    const dir = makeProject({
      "dagwright.yaml": CONFIG_SPEC("region: eu, year: 2024, other: 1"),
      ...CONFIG_FILES,
    });
    expect(runJson(dir).code).toBe(0);
    writeFileSync(
      path.join(dir, "dagwright.yaml"),
      CONFIG_SPEC("region: eu, year: 2024, other: 2"),
    );
    expect(runJson(dir).started).toEqual({ sh: ["config changed: other"] });
  });

  it("reruns a function task that receives the changed key, naming it in run and explain", () => {
    const dir = makeProject({
      "dagwright.yaml": CONFIG_SPEC("region: eu, year: 2024"),
      ...CONFIG_FILES,
    });
    expect(runJson(dir).code).toBe(0);
    writeFileSync(path.join(dir, "dagwright.yaml"), CONFIG_SPEC("region: us, year: 2024"));
    const explain = runCli(["explain", "g", "py"], dir);
    expect(explain.stdout).toContain("py: stale\n  - config changed: region\n");
    expect(explain.stdout).toMatch(/config region: \w+ → \w+/);
    expect(runJson(dir, "--dry-run").code).toBe(0);
    const r = runJson(dir);
    expect(r.started).toEqual({
      py: ["config changed: region"],
      sh: ["config changed: region"],
    });
    writeFileSync(path.join(dir, "dagwright.yaml"), CONFIG_SPEC("region: us, year: 2025"));
    expect(runJson(dir).started).toEqual({
      ts: ["config changed: year"],
      sh: ["config changed: year"],
    });
  });

  it("--set of a used key reruns the tasks receiving it, naming the key", () => {
    const dir = makeProject({
      "dagwright.yaml": CONFIG_SPEC("region: eu, year: 2024"),
      ...CONFIG_FILES,
    });
    expect(runJson(dir).code).toBe(0);
    expect(runJson(dir, "--set", "year=2030").started).toEqual({
      ts: ["config changed: year"],
      sh: ["config changed: year"],
    });
  });

  it("names the declared env variable that changed", () => {
    const dir = makeProject({
      "dagwright.yaml": CONFIG_SPEC("region: eu"),
      ...CONFIG_FILES,
    });
    expect(runJson(dir).code).toBe(0);
    writeFileSync(path.join(dir, "dagwright.yaml"), CONFIG_SPEC("region: eu", "Europe/Paris"));
    expect(runCli(["explain", "g", "sh"], dir).stdout).toContain("  - env changed: TZ\n");
    expect(runJson(dir).started).toEqual({ sh: ["env changed: TZ"] });
  });
});
