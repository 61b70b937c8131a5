import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

interface Event {
  type: string;
  task?: string;
  error?: string;
  reasons?: string[];
  total?: number;
  toRun?: number;
}

function run(dir: string, ...args: string[]) {
  const r = runCli(["run", "--json", ...args], dir);
  const events = jsonLines<Event>(r.stdout);
  return { ...r, events };
}

const COMBOS = Array.from({ length: 20 }, (_, i) => [`T${i + 1}`, String(i + 1)]);

function comboProject(combos: string[][] = COMBOS, extra: Record<string, string> = {}) {
  return makeProject({
    "kptn.yaml": `settings: {flows_dir: flows, flow_type: vanilla, py_tasks_dir: py_tasks}
graphs:
  combotest:
    tasks:
      combo_list:
      combo_process: [combo_list]
tasks:
  combo_list:
    file: py_tasks/combo_list.py
    cache_result: true
    iterable_item: item1,item2
  combo_process:
    file: py_tasks/combo_process.py:combo_process
    map_over: item1,item2
    outputs: ["out/\${item1}_\${item2}.txt"]
`,
    "py_tasks/combo_list.py": `def combo_list():\n    return ${JSON.stringify(combos)}\n`,
    // Fails the first time for item ("T1", "1"), as kptn's mock pipeline does.
    "py_tasks/combo_process.py": [
      "import os",
      "",
      "def combo_process(item1, item2, pipeline_config):",
      "    marker = os.path.join(pipeline_config.scratch_dir, 'failed_once')",
      "    if (item1, item2) == ('T1', '1') and not os.path.exists(marker):",
      "        open(marker, 'w').close()",
      "        raise ValueError(f'{item1},{item2} fails the first time')",
      "    os.makedirs(os.path.join(pipeline_config.scratch_dir, 'out'), exist_ok=True)",
      "    with open(os.path.join(pipeline_config.scratch_dir, 'out', f'{item1}_{item2}.txt'), 'w') as f:",
      "        f.write(f'{item1}-{item2}\\n')",
      "    with open(os.path.join(pipeline_config.scratch_dir, 'calls.txt'), 'a') as f:",
      "        f.write(f'{item1},{item2}\\n')",
      "",
    ].join("\n"),
    ...extra,
  });
}

const calls = (dir: string) =>
  readFileSync(path.join(dir, "scratch", "combotest", "calls.txt"), "utf8")
    .trim()
    .split("\n");

describe("fan-out: map_over a cached list", () => {
  it("runs one call per combo; a failing item fails the run with 19 of 20 done, and the rerun runs only that item", () => {
    const dir = comboProject();
    const first = run(dir);
    expect(first.code).toBe(1);
    const failed = first.events.find((e) => e.type === "task-failed" && e.task === "combo_process");
    expect(failed?.error).toBe(
      "19/20 items done, 1 failed (T1,1: ValueError: T1,1 fails the first time)",
    );
    expect(calls(dir)).toHaveLength(19);
    const status = runCli(["status"], dir);
    expect(status.stdout).toContain(
      "combo_process  failed     19/20 items done, 1 failed (T1,1: ValueError: T1,1 fails the first time)",
    );

    const second = run(dir);
    expect(second.code).toBe(0);
    expect(second.events.find((e) => e.type === "task-items")).toMatchObject({
      task: "combo_process",
      total: 20,
      toRun: 1,
    });
    expect(calls(dir).slice(19)).toEqual(["T1,1"]);
    expect(readFileSync(path.join(dir, "scratch", "combotest", "out", "T1_1.txt"), "utf8")).toBe(
      "T1-1\n",
    );

    const third = run(dir);
    expect(third.events.filter((e) => e.type === "task-fresh").map((e) => e.task)).toEqual([
      "combo_list",
      "combo_process",
    ]);
  });

  it("runs only the new item when one is added to the list", () => {
    const dir = comboProject(COMBOS.slice(0, 3), { "scratch/combotest/failed_once": "" });
    expect(run(dir).code).toBe(0);
    writeFileSync(
      path.join(dir, "py_tasks/combo_list.py"),
      `def combo_list():\n    return ${JSON.stringify(COMBOS.slice(0, 4))}\n`,
    );
    const r = run(dir);
    expect(r.code).toBe(0);
    expect(r.events.find((e) => e.type === "task-items")).toMatchObject({ total: 4, toRun: 1 });
    expect(calls(dir).sort()).toEqual(["T1,1", "T2,2", "T3,3", "T4,4"]);
    expect(calls(dir)[3]).toBe("T4,4");
  });

  it("reruns every item, naming the changed function, when the mapped task's code changes", () => {
    const dir = comboProject(COMBOS.slice(0, 3), { "scratch/combotest/failed_once": "" });
    expect(run(dir).code).toBe(0);
    const file = path.join(dir, "py_tasks/combo_process.py");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace("exist_ok=True)", "exist_ok=True)  # tweak"),
    );
    const r = run(dir);
    expect(r.code).toBe(0);
    expect(r.events.find((e) => e.type === "task-items")).toMatchObject({ total: 3, toRun: 3 });
    expect(
      r.events.find((e) => e.type === "task-start" && e.task === "combo_process")?.reasons,
    ).toEqual([
      "3 of 3 items to run (first: T1,1: code: function combo_process in py_tasks/combo_process.py changed)",
    ]);
  });

  it("runs one item with run-task --item, and names a key that does not exist", () => {
    const dir = comboProject(COMBOS.slice(0, 3), { "scratch/combotest/failed_once": "" });
    expect(runCli(["run-task", "combotest", "combo_list"], dir).code).toBe(0);
    const one = runCli(["run-task", "combotest", "combo_process", "--item", "T2,2"], dir);
    expect(one.code).toBe(0);
    expect(calls(dir)).toEqual(["T2,2"]);
    const list = runCli(["run-task", "combotest", "combo_process", "--list-items"], dir);
    expect(JSON.parse(list.stdout)).toEqual(["T1,1", "T2,2", "T3,3"]);
    const bad = runCli(["run-task", "combotest", "combo_process", "--item", "T2,3"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('task "combo_process" has no item "T2,3". Did you mean "T2,2"?');
  });

  it("--dry-run on a fresh project says the items are known after the producer runs", () => {
    const dir = comboProject();
    const r = runCli(["run", "--dry-run"], dir);
    expect(r.stderr).toContain("combo_process would run: items: known after `combo_list` runs");
    expect(r.stderr).toMatch(/^dry run: 2 would run, 0 fresh in /m);
    expect(r.stderr).not.toContain(" ran,");
    expect(r.code).toBe(0);
    const json = run(dir, "--dry-run");
    expect(json.events.at(-1)).toMatchObject({
      type: "run-end",
      status: "succeeded",
      dryRun: true,
    });
    expect(runCli(["status"], dir).stdout).toMatch(/combo_list\s+never ran/);
  });

  it("says so and runs nothing for an empty list", () => {
    const dir = comboProject([]);
    const r = run(dir);
    expect(r.code).toBe(0);
    expect(r.events.find((e) => e.type === "task-items")).toMatchObject({ total: 0, toRun: 0 });
    const human = runCli(["run", "--force"], dir);
    expect(human.stderr).toContain("combo_process: 0 items (the list is empty: nothing to run)");
  });

  it("rejects two items that would write the same output before anything runs", () => {
    const dir = comboProject([
      ["a", "1"],
      ["a", "2"],
    ]);
    writeFileSync(
      path.join(dir, "kptn.yaml"),
      readFileSync(path.join(dir, "kptn.yaml"), "utf8").replace(
        "out/${item1}_${item2}.txt",
        "out/${item1}.txt",
      ),
    );
    const r = run(dir);
    expect(r.code).toBe(1);
    expect(r.events.find((e) => e.type === "task-failed")?.error).toBe(
      'task "combo_process": items "a,1" and "a,2" would both write out/a.txt',
    );
  });

  it("rejects an empty-string item by name on every run, instead of a bogus 'superseded'", () => {
    const dir = makeProject({
      "dagwright.yaml": [
        "graphs: {g: {tasks: {lst: , f: lst}}}",
        "tasks:",
        "  lst: {file: lst.py, cache_result: true, iterable_item: item}",
        "  f: {map_over: item, command: [sh, -c, 'echo \"[$item]\"']}",
        "",
      ].join("\n"),
      "lst.py": "def lst():\n    return ['ok', '']\n",
    });
    for (let i = 0; i < 2; i++) {
      const r = run(dir);
      expect(r.code).toBe(1);
      expect(r.events.find((e) => e.type === "task-failed")?.error).toBe(
        'task "f": item 1 of "lst" is the empty string; an item needs a non-empty value',
      );
    }
  });

  it("rejects an item value that would steer an output outside the project", () => {
    const dir = comboProject([["../../etc", "1"]]);
    const r = run(dir);
    expect(r.code).toBe(1);
    expect(r.events.find((e) => e.type === "task-failed")?.error).toContain("outside the project");
  });
});

describe("fan-out: bundles and groups", () => {
  const shellProject = (bundle: number, group: number, n: number) =>
    makeProject({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      list:
      each: list
tasks:
  list:
    file: tasks/list.py
    cache_result: true
    iterable_item: item
  each:
    command: "echo start $item >> trace.txt; sleep 0.3; echo end $item >> trace.txt"
    map_over: item
    bundle_size: ${bundle}
    group_size: ${group}
`,
      "tasks/list.py": `def list():\n    return [f"i{n}" for n in range(${n})]\n`,
    });

  it("keeps at most group_size bundles in flight, each group finishing before the next", () => {
    const dir = shellProject(1, 2, 6);
    const r = run(dir, "-j", "4");
    expect(r.code).toBe(0);
    const lines = readFileSync(path.join(dir, "trace.txt"), "utf8").trim().split("\n");
    let inFlight = 0;
    let max = 0;
    for (const l of lines) {
      inFlight += l.startsWith("start") ? 1 : -1;
      max = Math.max(max, inFlight);
    }
    expect(lines).toHaveLength(12);
    expect(max).toBe(2);
  });

  it("runs a bundle's items in order in one call, with one log per bundle", () => {
    const dir = shellProject(3, 10, 7);
    const r = run(dir, "-j", "1");
    expect(r.code).toBe(0);
    const starts = readFileSync(path.join(dir, "trace.txt"), "utf8")
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("start"));
    expect(starts).toEqual([
      "start i0",
      "start i1",
      "start i2",
      "start i3",
      "start i4",
      "start i5",
      "start i6",
    ]);
    const logs = runCli(["status", "--json"], dir);
    expect(JSON.parse(logs.stdout).tasks[1].state).toBe("fresh");
  });
});
