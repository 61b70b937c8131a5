import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { hintsOf, makeProject, problemsOf, runCli } from "../helpers.js";

const FILES = { "tasks/regions.py": "def regions():\n    return ['NC', 'SC']\n" };

/** A fan-out over `region` whose task fields are given by `fetch`. */
const fanOut = (fetch: string) =>
  [
    "config: {currency: EUR}",
    "graphs:",
    "  g:",
    "    tasks:",
    "      regions:",
    "      fetch: regions",
    "tasks:",
    "  regions: {file: tasks/regions.py, cache_result: true, iterable_item: region}",
    "  fetch:",
    "    map_over: region",
    "    command: [sh, -c, 'echo $region > out/$region.csv']",
    fetch,
    "",
  ].join("\n");

describe("${VAR} in outputs, inputs and args is checked against what fills it", () => {
  it("names a misspelled item variable in outputs, with the position and the near miss", () => {
    expect(problemsOf(fanOut('    outputs: ["out/${REGON}.csv"]'), FILES)).toEqual([
      'dagwright.yaml:12:15 tasks.fetch.outputs[0]: ${REGON} is not a variable of task "fetch". Did you mean "${region}"?',
    ]);
    expect(hintsOf(fanOut('    outputs: ["out/${REGON}.csv"]'), FILES)).toEqual([
      "its item variables are ${region}",
    ]);
  });

  it("rejects a config key or an unknown name in inputs: paths fill only item variables", () => {
    expect(
      problemsOf(
        fanOut('    outputs: ["out/${region}.csv"]\n    inputs: ["data/${currency}.csv"]'),
        FILES,
      ),
    ).toEqual([
      "dagwright.yaml:13:14 tasks.fetch.inputs[0]: ${currency} is a config key, and config values are not filled into paths: outputs, inputs and logs fill only item variables, so it would match any text",
    ]);
  });

  it("checks cli_args against item variables and declared env, leaving other names to the environment", () => {
    const yaml = fanOut(
      '    outputs: ["out/${region}.csv"]\n    cli_args: "--r ${regoin} --home ${HOME} --t ${TZZ}"\n    env: {TZ: UTC}',
    );
    expect(problemsOf(yaml, FILES)).toEqual([
      'dagwright.yaml:13:15 tasks.fetch.cli_args: ${regoin} is not a variable of task "fetch". Did you mean "${region}"?',
      'dagwright.yaml:13:15 tasks.fetch.cli_args: ${TZZ} is not a variable of task "fetch". Did you mean "${TZ}"?',
    ]);
  });

  it("accepts item variables, and keeps kptn's meaning of other names (globbed) in a kptn.yaml", () => {
    expect(problemsOf(fanOut('    outputs: ["out/${region}.csv"]'), FILES)).toEqual([]);
    const kptn = [
      "settings: {flows_dir: flows, flow_type: vanilla, py_tasks_dir: tasks}",
      "graphs:",
      "  g:",
      "    tasks:",
      "      regions:",
      "      fetch: [regions]",
      "tasks:",
      "  regions: {file: tasks/regions.py, cache_result: true, iterable_item: region}",
      "  fetch:",
      "    file: tasks/fetch.py",
      "    map_over: region",
      '    outputs: ["out/${region}-${year}.csv"]',
      "",
    ].join("\n");
    expect(
      problemsOf(
        kptn,
        { ...FILES, "tasks/fetch.py": "def fetch(region):\n    pass\n" },
        "kptn.yaml",
      ),
    ).toEqual([]);
  });

  it("fails validate and run with exit 2 before anything runs", () => {
    const dir = makeProject({
      "dagwright.yaml": fanOut('    outputs: ["out/${REGON}.csv"]'),
      "out/.keep": "",
      ...FILES,
    });
    const v = runCli(["validate"], dir);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(
      '${REGON} is not a variable of task "fetch". Did you mean "${region}"?',
    );
    const r = runCli(["run"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("nothing was run");
    expect(existsSync(path.join(dir, ".dagwright", "state.db"))).toBe(false);
  });
});

describe("an output declared by two tasks is an error, across every graph", () => {
  const twoWriters = (a: string, b: string) =>
    [
      "graphs:",
      "  one: {tasks: {a: }}",
      "  two: {tasks: {b: }}",
      "tasks:",
      `  a: {command: [sh, -c, 'echo a > x.csv'], outputs: [${a}]}`,
      `  b: {command: [sh, -c, 'echo b > x.csv'], outputs: [${b}]}`,
      "",
    ].join("\n");

  it.each([
    ["the same path", "x.csv", "x.csv"],
    ["the same path written differently", "x.csv", "./x.csv"],
    ["the same pattern", '"out/*.csv"', '"out/*.csv"'],
  ])("%s", (_, a, b) => {
    const [problem] = problemsOf(twoWriters(a, b));
    expect(problem).toMatch(
      /^dagwright\.yaml:6:\d+ tasks\.b\.outputs\[0\]: output \S+ of task "b" is also declared by task "a" \(dagwright\.yaml:5:\d+\)$/,
    );
  });

  it("a path inside another task's output directory", () => {
    expect(problemsOf(twoWriters("out", "out/x.csv"))).toEqual([
      'dagwright.yaml:6:54 tasks.b.outputs[0]: output out/x.csv of task "b" is inside the output out of task "a" (dagwright.yaml:5:54)',
    ]);
  });

  it("through the CLI: validate and run exit 2, and nothing runs", () => {
    const dir = makeProject({ "dagwright.yaml": twoWriters("x.csv", "./x.csv") });
    for (const cmd of [["validate"], ["run", "one"]]) {
      const r = runCli(cmd, dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('output x.csv of task "b" is also declared by task "a"');
    }
    expect(existsSync(path.join(dir, "x.csv"))).toBe(false);
  });
});
