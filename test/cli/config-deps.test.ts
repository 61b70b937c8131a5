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
    writeFileSync(path.join(dir, "tasks/lst.py"), `${listFile(["SC", "VA"])}# edit\n`);
    const status = runCli(["status"], dir);
    expect(status.stdout).toMatch(/per_state +fresh/);
    expect(Object.keys(runJson(dir).started)).toEqual(["lst"]);
  });
});
