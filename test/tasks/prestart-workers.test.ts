import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { launchTask, shutdownWorkers } from "../../src/tasks/launch-task.js";
import {
  prestartNodeWorkerThreads,
  takePrestartedWorker,
} from "../../src/tasks/prestart-workers.js";
import { makeProject, runCli, runCliAsync } from "../helpers.js";
import { makeTask, tempProject } from "./helpers.js";

const project = tempProject("prestart");
afterAll(() => shutdownWorkers());

project.write(
  "tasks/hello.ts",
  "export function hello(): string { return `hi ${process.env.WHO}`; }\n",
);

describe("TS/JS workers started ahead of their pool", () => {
  it("are adopted by the pool, which runs tasks on them", async () => {
    await shutdownWorkers();
    prestartNodeWorkerThreads(1);
    // Threads serve a project rooted in this process's working directory only (a thread cannot
    // have a directory of its own), so the task is named from here.
    const file = path.relative(process.cwd(), path.join(project.root, "tasks/hello.ts"));
    const r = await launchTask({
      task: makeTask({ name: "hello", kind: "node", file, function: "hello" }),
      root: process.cwd(),
      inputs: { deps: {}, args: {}, config: {} },
      env: { WHO: "there" },
      scratchDir: project.root,
      logPath: `${project.root}/hello.log`,
    });
    expect(r.status, r.error).toBe("succeeded");
    expect(r.result).toBe("hi there");
    // The pool took the started worker rather than leaving it unused.
    expect(takePrestartedWorker()).toBeUndefined();
  });

  it("are stopped by shutdownWorkers when no pool took them", async () => {
    await shutdownWorkers();
    prestartNodeWorkerThreads(1);
    await shutdownWorkers();
    expect(takePrestartedWorker()).toBeUndefined();
  });
});

describe("dagwright run in a project that compiled TS tasks before", () => {
  it("exits by itself when only shell tasks run (the worker started early goes unused)", async () => {
    const dir = makeProject({
      "dagwright.yaml":
        'graphs:\n  g: {tasks: {t: , s: }}\ntasks:\n  t: {file: "t.ts:t"}\n  s: {command: ["sh", "-c", "echo ok > s.txt"], outputs: [s.txt]}\n',
      "t.ts": "export function t(): number { return 1; }\n",
    });
    expect(runCli(["run"], dir).code).toBe(0);
    expect(existsSync(path.join(dir, ".dagwright", "cache", "ts"))).toBe(true);
    // The early worker is never used here; an unused worker must not keep the process alive
    // (if it did, this test would hit its timeout).
    const r = await runCliAsync(["run", "--only", "s", "--force"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("✓ s");
  }, 30_000);
});
