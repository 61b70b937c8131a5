import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makefile, name, specYaml } from "../../bench/graph.mjs";
import { jsonLines, makeProject, runCli } from "../helpers.js";

const SHAPE = { layers: 3, width: 4 };
const TASKS = Array.from({ length: SHAPE.layers }, (_, l) =>
  Array.from({ length: SHAPE.width }, (_, i) => name(l, i)),
).flat();
const hasMake = spawnSync("make", ["--version"]).status === 0;

function freshOutputs(dir: string): void {
  rmSync(path.join(dir, "o"), { recursive: true, force: true });
  mkdirSync(path.join(dir, "o"));
}

// Issue 14: benchmark (b) gave each make target `true` and `touch $@` but each dagwright task
// `true` only, so make did twice the work and the ratio flattered dagwright.
describe("benchmark (b): make and dagwright do the same work", () => {
  it.skipIf(!hasMake)("make runs exactly one `touch o/<task>` per task", () => {
    const dir = makeProject({ Makefile: makefile(SHAPE) });
    freshOutputs(dir);
    const dry = spawnSync("make", ["-n"], { cwd: dir, encoding: "utf8" });
    expect(dry.status).toBe(0);
    const commands = dry.stdout.trim().split("\n").sort();
    expect(commands).toEqual(TASKS.map((t) => `touch o/${t}`).sort());
    expect(spawnSync("make", ["-s", "-j2"], { cwd: dir }).status).toBe(0);
    expect(readdirSync(path.join(dir, "o")).sort()).toEqual([...TASKS].sort());
  });

  it("dagwright runs the same `touch o/<task>` per task, each writing its declared output", () => {
    const dir = makeProject({ "dagwright.yaml": specYaml("sh", SHAPE) });
    freshOutputs(dir);
    const run = runCli(["run", "-j", "2"], dir);
    expect(run.code, run.stderr).toBe(0);
    expect(readdirSync(path.join(dir, "o")).sort()).toEqual([...TASKS].sort());
    for (const t of [name(0, 0), name(SHAPE.layers - 1, SHAPE.width - 1)]) {
      const log = runCli(["logs", "bench", t], dir);
      expect(log.code, log.stderr).toBe(0);
      expect(log.stdout).toContain(`touch o/${t}`);
    }
    // The outputs are declared: a deleted one makes its task run again, and only that task (the
    // file it writes anew is identical, so the tasks after it stay fresh).
    rmSync(path.join(dir, "o", name(1, 2)));
    const rerun = runCli(["run", "-j", "2", "--json"], dir);
    expect(rerun.code, rerun.stderr).toBe(0);
    const started = jsonLines<{ type: string; task?: string; reasons?: string[] }>(rerun.stdout)
      .filter((e) => e.type === "task-start")
      .map((e) => [e.task, e.reasons]);
    expect(started).toEqual([[name(1, 2), [`output missing: o/${name(1, 2)}`]]]);
    expect(readdirSync(path.join(dir, "o"))).toContain(name(1, 2));
  });
});
