import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { groupIsAlive } from "../../src/tasks/run-process.js";
import { BIN, makeProject, runCli } from "../helpers.js";

/** A task process as the state store recorded it. */
export interface RecordedProcess {
  task: string;
  item: string;
  pid: number;
}

/** Where the state lives for {@link describeOrphanRuns}. */
export interface OrphanBackend {
  /** Environment for `dagwright` in the project `dir`. */
  env(dir: string): Record<string, string>;
  /** The task processes recorded for the project `dir`, oldest first ([] before the store exists). */
  recorded(dir: string): Promise<RecordedProcess[]>;
}

const started: { runner?: ChildProcess; groups: number[] }[] = [];

afterEach(() => {
  // Whatever a failing test left behind must not outlive it.
  for (const s of started.splice(0)) {
    s.runner?.kill("SIGKILL");
    for (const g of s.groups) {
      try {
        process.kill(-g, "SIGKILL");
      } catch {}
    }
  }
});

/**
 * Starts `dagwright run ARGS` in `dir`, waits until the state store records `count` task
 * processes (its readiness by protocol: the runner wrote them down), then kills the runner with
 * SIGKILL, as the OOM killer or `kill -9` would. Resolves to the recorded processes.
 */
async function crashRunnerOnceRunning(
  backend: OrphanBackend,
  dir: string,
  args: string[],
  count: number,
): Promise<RecordedProcess[]> {
  const runner = spawn(process.execPath, [BIN, "run", ...args], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1", ...backend.env(dir) },
    stdio: "ignore",
  });
  const entry: { runner?: ChildProcess; groups: number[] } = { runner, groups: [] };
  started.push(entry);
  let exited = false;
  runner.once("exit", () => {
    exited = true;
  });
  // Bounded only so that a runner that never records fails the test rather than hanging it.
  for (let tries = 0; ; tries++) {
    const rows = await backend.recorded(dir);
    entry.groups = rows.map((r) => r.pid);
    if (rows.length >= count) break;
    if (exited) throw new Error("the runner ended before its tasks' processes were recorded");
    if (tries === 800) throw new Error("the runner never recorded its tasks' processes");
    await new Promise((r) => setTimeout(r, 25));
  }
  runner.kill("SIGKILL");
  await once(runner, "exit").catch(() => {});
  return backend.recorded(dir);
}

/** The CLI's behaviour after a runner was killed, against one kind of state store. */
export function describeOrphanRuns(name: string, backend: OrphanBackend): void {
  describe(`a runner killed while tasks run (kill -9), ${name}`, () => {
    it("leaves no second copy: the next run stops the orphan first, says so, then runs the task once", async () => {
      const dir = makeProject({
        "dagwright.yaml": [
          "graphs: {g: {tasks: {slow: }}}",
          "tasks:",
          "  slow:",
          // The orphan sleeps on; the rerun finds `quick` and finishes at once.
          "    command: [sh, -c, 'if [ ! -e quick ]; then sleep 60; fi; echo done >> slow.txt']",
          "",
        ].join("\n"),
      });
      const [orphan] = await crashRunnerOnceRunning(backend, dir, ["g"], 1);
      expect(orphan).toMatchObject({ task: "slow", item: "" });
      const pid = orphan!.pid;
      expect(groupIsAlive(pid)).toBe(true); // reparented, still running

      writeFileSync(path.join(dir, "quick"), "");
      const r = runCli(["run", "g"], dir, backend.env(dir));
      const line = `stopped an orphaned process of slow (pid ${pid}) left by a crashed run\n`;
      expect(r.stderr).toContain(line);
      // Before anything starts.
      expect(r.stderr.indexOf(line)).toBeLessThan(r.stderr.indexOf("run g ("));
      expect(r.code).toBe(0);
      expect(groupIsAlive(pid)).toBe(false);
      expect(readFileSync(path.join(dir, "slow.txt"), "utf8")).toBe("done\n");
      expect(await backend.recorded(dir)).toEqual([]);

      const again = runCli(["run", "g"], dir, backend.env(dir));
      expect(again.code).toBe(0);
      expect(again.stderr).not.toContain("orphaned");
    }, 60_000);

    it("stops every item process of a fan-out, naming the items", async () => {
      const dir = makeProject({
        "dagwright.yaml": [
          "graphs: {g: {tasks: {lst: , f: lst}}}",
          "tasks:",
          "  lst: {file: lst.py, cache_result: true, iterable_item: item}",
          "  f:",
          "    map_over: item",
          "    command: [sh, -c, 'if [ ! -e quick ]; then sleep 60; fi; echo $item >> f.txt']",
          "",
        ].join("\n"),
        "lst.py": "def lst():\n    return ['NC', 'SC']\n",
      });
      const orphans = await crashRunnerOnceRunning(backend, dir, ["g", "-j", "2"], 2);
      expect(orphans.map((o) => `${o.task} ${o.item}`).sort()).toEqual(["f NC", "f SC"]);

      writeFileSync(path.join(dir, "quick"), "");
      const r = runCli(["run", "g"], dir, backend.env(dir));
      expect(r.code).toBe(0);
      for (const o of orphans) {
        expect(r.stderr).toContain(
          `stopped an orphaned process of f item ${o.item} (pid ${o.pid}) left by a crashed run\n`,
        );
        expect(groupIsAlive(o.pid)).toBe(false);
      }
      expect(readFileSync(path.join(dir, "f.txt"), "utf8").split("\n").sort()).toEqual([
        "",
        "NC",
        "SC",
      ]);
    }, 60_000);
  });
}
