import { afterAll, describe, expect, it } from "vitest";
import { launchTask, shutdownWorkers } from "../../src/tasks/launch-task.js";
import {
  prestartNodeWorkerThreads,
  takePrestartedWorker,
} from "../../src/tasks/prestart-workers.js";
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
    const r = await launchTask({
      task: makeTask({ name: "hello", kind: "node", file: "tasks/hello.ts", function: "hello" }),
      root: project.root,
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
