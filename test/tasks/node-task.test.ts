import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { launchTask, shutdownWorkers } from "../../src/tasks/launch-task.js";
import { makeTask, tempProject } from "./helpers.js";

const project = tempProject("node");
afterAll(() => shutdownWorkers());

const tsTask = (name: string, file: string, fn = name) =>
  makeTask({ name, kind: "node", file, function: fn });

project.write(
  "tasks/summarize.ts",
  `
interface Input {
  rows: number[];
  args: { scale: number };
  config: { currency: string };
  item?: Record<string, string>;
  pipelineConfig: { scratchDir: string };
  deps: { rows: number[] };
}
let imports = 0;
imports++;
let calls = 0;
export function summarize(input: Input): { total: number; currency: string; item?: string; scratch: string; fromDeps: number; env?: string } {
  calls++;
  console.log("summing", input.rows.length, "rows");
  console.error("to stderr");
  return {
    total: input.rows.reduce((a, b) => a + b, 0) * input.args.scale,
    currency: input.config.currency,
    item: input.item?.state,
    scratch: input.pipelineConfig.scratchDir,
    fromDeps: input.deps.rows.length,
    env: process.env.OUTPUT_PIPELINE_DIR,
  };
}
export async function counters(): Promise<{ imports: number; calls: number }> {
  calls++;
  return { imports, calls };
}
export const notAFunction = 42;
export function map(): Map<string, number> {
  return new Map([["a", 1]]);
}
export function nested(): unknown {
  return { ok: [1, { when: new Date(0) }] };
}
export function boom(): never {
  throw new RangeError("boom");
}
export function spin(): void {
  for (;;) {}
}
export function cwd(): string {
  return process.cwd();
}
`,
);

describe("TS/JS function tasks", () => {
  it("calls the exported function with inputs and returns its result, no build step", async () => {
    const req = project.request(tsTask("summarize", "tasks/summarize.ts"), {
      inputs: {
        deps: { rows: [1, 2, 3] },
        args: { scale: 10 },
        config: { currency: "EUR" },
        item: { state: "NC" },
      },
      env: { OUTPUT_PIPELINE_DIR: "/out" },
    });
    const r = await launchTask(req);
    expect(r.error).toBeUndefined();
    expect(r.status).toBe("succeeded");
    expect(r.result).toEqual({
      total: 60,
      currency: "EUR",
      item: "NC",
      scratch: `${project.root}/scratch`,
      fromDeps: 3,
      env: "/out",
    });
    expect(r.logTail).toEqual(["summing 3 rows", "to stderr"]);
    expect(readFileSync(req.logPath, "utf8")).toMatch(
      /^# dagwright summarize \S+ tasks\/summarize.ts:summarize \(item state=NC\)\n/,
    );
    expect(process.env.OUTPUT_PIPELINE_DIR).toBeUndefined();
  });

  it("imports a module once per worker: a second call sees the same module state", async () => {
    const first = await launchTask(project.request(tsTask("c", "tasks/summarize.ts", "counters")));
    const second = await launchTask(project.request(tsTask("c", "tasks/summarize.ts", "counters")));
    expect(first.result).toMatchObject({ imports: 1 });
    expect(second.result).toEqual({
      imports: 1,
      calls: (first.result as { calls: number }).calls + 1,
    });
  });

  it("lists the module's exports when the function is missing", async () => {
    const r = await launchTask(project.request(tsTask("absent", "tasks/summarize.ts")));
    expect(r.status).toBe("failed");
    expect(r.error).toBe(
      "function 'absent' not found in tasks/summarize.ts (exports: boom, counters, cwd, map, nested, notAFunction, spin, summarize)",
    );
  });

  it("says when the export is not a function", async () => {
    const r = await launchTask(project.request(tsTask("n", "tasks/summarize.ts", "notAFunction")));
    expect(r.error).toBe(
      "export 'notAFunction' of tasks/summarize.ts is the number 42, not a function",
    );
  });

  it("fails naming the type when the result is not JSON-serializable", async () => {
    const m = await launchTask(project.request(tsTask("m", "tasks/summarize.ts", "map")));
    expect(m.status).toBe("failed");
    expect(m.error).toMatch(/^task 'm' returned a Map, which is not JSON-serializable/);
    const n = await launchTask(project.request(tsTask("n", "tasks/summarize.ts", "nested")));
    expect(n.error).toMatch(
      /^task 'n' returned an Object containing a Date at \.ok\[1\]\.when, which is not JSON/,
    );
  });

  it("reports a thrown error as Name: message with the stack in the log", async () => {
    const req = project.request(tsTask("b", "tasks/summarize.ts", "boom"));
    const r = await launchTask(req);
    expect(r).toMatchObject({ status: "failed", error: "RangeError: boom" });
    expect(readFileSync(req.logPath, "utf8")).toMatch(/RangeError: boom\n\s+at boom \(/);
  });

  it("runs in its project root, though this process's working directory is elsewhere", async () => {
    expect(process.cwd()).not.toBe(project.root);
    const r = await launchTask(project.request(tsTask("w", "tasks/summarize.ts", "cwd")));
    expect(r.result).toBe(project.root);
    expect(process.cwd()).not.toBe(project.root);
  });

  it("terminates the worker on timeout, and the pool keeps working", async () => {
    const r = await launchTask(
      project.request(tsTask("s", "tasks/summarize.ts", "spin"), { timeoutSeconds: 0.3 }),
    );
    expect(r).toMatchObject({ status: "timeout", error: "timed out after 0.3s" });
    const after = await launchTask(project.request(tsTask("c", "tasks/summarize.ts", "counters")));
    expect(after.status).toBe("succeeded");
  });

  it("cancels through the AbortSignal", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const r = await launchTask(
      project.request(tsTask("s", "tasks/summarize.ts", "spin"), { signal: controller.signal }),
    );
    expect(r).toMatchObject({ status: "cancelled", error: "cancelled" });
  });

  it("runs plain JavaScript modules too", async () => {
    project.write("tasks/plain.mjs", "export const plain = ({ args }) => args.x + 1;\n");
    const r = await launchTask(
      project.request(tsTask("plain", "tasks/plain.mjs"), {
        inputs: { deps: {}, args: { x: 1 }, config: {} },
      }),
    );
    expect(r.result).toBe(2);
  });

  it("does not keep the process alive once idle", () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const launcher = path.resolve(here, "../../src/tasks/launch-task.ts");
    const script = project.write(
      "exit-check.mts",
      `
import { launchTask } from ${JSON.stringify(launcher)};
const r = await launchTask({
  task: { name: "c", kind: "node", file: "tasks/summarize.ts", function: "counters", functionExplicit: false,
    outputs: [], inputs: [], args: {}, cacheResult: false, cache: true, compute: {}, tags: [], retries: 0,
    env: {}, secrets: [], location: { file: "x", line: 1, column: 1 } },
  root: ${JSON.stringify(project.root)},
  inputs: { deps: {}, args: {}, config: {} },
  env: {},
  scratchDir: "/tmp",
  logPath: ${JSON.stringify(path.join(project.root, "logs", "exit-check.log"))},
});
console.log(r.status);
`,
    );
    const tsx = path.resolve(here, "../../node_modules/tsx/dist/cli.mjs");
    const run = spawnSync(process.execPath, [tsx, script], { encoding: "utf8", timeout: 20_000 });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe("succeeded");
  });
});
