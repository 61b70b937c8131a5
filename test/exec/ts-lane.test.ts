// Short TS/JS function tasks are sent to the worker threads several at a time (the lane of
// src/tasks/node-lane.ts). These check what must not change for it: -j bounds how many run at
// once, each task keeps its own log and environment, and a task that kills its worker fails alone.
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

interface Event {
  type: string;
  task?: string;
  error?: string;
  reason?: string;
}

/** `layers` layers of `width` tasks; task i of layer L depends on task i of layer L-1. */
function layeredSpec(
  layers: number,
  width: number,
  task: (l: number, i: number) => string,
): string {
  const name = (l: number, i: number) => `t${l}_${i}`;
  const lines = ["graphs:", "  g:", "    tasks:"];
  for (let l = 0; l < layers; l++)
    for (let i = 0; i < width; i++)
      lines.push(`      ${name(l, i)}: ${l === 0 ? "[]" : name(l - 1, i)}`);
  lines.push("tasks:");
  for (let l = 0; l < layers; l++)
    for (let i = 0; i < width; i++) lines.push(`  ${name(l, i)}: ${task(l, i)}`);
  return `${lines.join("\n")}\n`;
}

function run(dir: string, ...args: string[]) {
  const r = runCli(["run", "--json", ...args], dir);
  const events = jsonLines<Event>(r.stdout);
  return { code: r.code, events, stderr: r.stderr };
}

// Each call marks itself running with a directory, counts the marks (the tasks running at this
// moment, in any worker), spins a little so calls can overlap, and says who it is on stdout.
const TRACE_TS = [
  'import { mkdirSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";',
  "export function traced(): void {",
  "  const me = process.env.DAGWRIGHT_TASK as string;",
  "  mkdirSync(`running/${me}`, { recursive: true });",
  '  const seen = readdirSync("running").length;',
  "  const until = Date.now() + 2;",
  "  while (Date.now() < until) {}",
  '  const after = readdirSync("running").length;',
  "  writeFileSync(`seen/${me}`, String(Math.max(seen, after)));",
  "  rmdirSync(`running/${me}`);",
  "  console.log(`hello from ${me}`);",
  "}",
  "",
].join("\n");

describe("TS/JS tasks sent to workers several at a time", () => {
  it.each([1, 2])("never runs more than -j %i at once, each task logging to its own log", (j) => {
    const dir = makeProject({
      "dagwright.yaml": layeredSpec(3, 20, () => '{file: "trace.ts:traced"}'),
      "trace.ts": TRACE_TS,
      "running/.keep": "",
      "seen/.keep": "",
    });
    const r = run(dir, "-j", String(j));
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.filter((e) => e.type === "task-done")).toHaveLength(60);
    let most = 0;
    for (let l = 0; l < 3; l++) {
      for (let i = 0; i < 20; i++) {
        const name = `t${l}_${i}`;
        // The .keep file is one entry of running/.
        most = Math.max(most, Number(readFileSync(path.join(dir, "seen", name), "utf8")) - 1);
        const logs = path.join(dir, ".dagwright", "logs", "g@default", name);
        const [only, ...more] = readdirSync(logs);
        expect(more).toEqual([]);
        const log = readFileSync(path.join(logs, only!), "utf8");
        expect(log.match(/hello from \S+/g)).toEqual([`hello from ${name}`]);
      }
    }
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(j);
    // A second run finds every task fresh.
    const again = run(dir, "-j", String(j));
    expect(again.events.filter((e) => e.type === "task-fresh")).toHaveLength(60);
  });

  it("fails only the task that kills its worker; the tasks sent with it still run", () => {
    const dir = makeProject({
      "dagwright.yaml": layeredSpec(3, 10, (l, i) =>
        l === 1 && i === 4
          ? '{file: "maybe.ts:maybe", args: {die: true}}'
          : '{file: "maybe.ts:maybe"}',
      ),
      "maybe.ts": [
        'import { writeFileSync } from "node:fs";',
        "export function maybe(input: { args: { die?: boolean } }): void {",
        "  if (input.args.die) process.exit(3);",
        "  writeFileSync(`ran-${process.env.DAGWRIGHT_TASK}`, '');",
        "}",
        "",
      ].join("\n"),
    });
    const r = run(dir, "-j", "1");
    expect(r.code).toBe(1);
    const failed = r.events.filter((e) => e.type === "task-failed");
    expect(failed.map((e) => e.task)).toEqual(["t1_4"]);
    expect(failed[0]!.error).toMatch(/exit(ed with)? code 3/);
    const done = r.events.filter((e) => e.type === "task-done").map((e) => e.task);
    expect(done).toHaveLength(28);
    expect(done).not.toContain("t2_4");
    for (const t of done) expect(existsSync(path.join(dir, `ran-${t}`))).toBe(true);
    const skipped = r.events.filter((e) => e.type === "task-skipped");
    expect(skipped.map((e) => [e.task, e.reason])).toEqual([["t2_4", "upstream t1_4 failed"]]);
  });

  it("gives each task its own copy of its input and env, even when sent with others", () => {
    const dir = makeProject({
      "dagwright.yaml": `config:\n  shared: {n: 1}\n${layeredSpec(2, 30, () => '{file: "mut.ts:mut"}')}`,
      "mut.ts": [
        'import { writeFileSync } from "node:fs";',
        "export function mut(input: { config: { shared: { n: number; by?: string } } }): void {",
        "  const me = process.env.DAGWRIGHT_TASK as string;",
        "  const dir = process.env.OUTPUT_PIPELINE_DIR;",
        "  writeFileSync(`saw-${me}`, JSON.stringify({ ...input.config.shared, dir }));",
        "  input.config.shared.by = me;",
        "  input.config.shared.n++;",
        '  process.env.OUTPUT_PIPELINE_DIR = "changed by a task";',
        '  process.env.DAGWRIGHT_TASK = "changed by a task";',
        "}",
        "",
      ].join("\n"),
    });
    const r = run(dir, "-j", "2");
    expect(r.code, r.stderr).toBe(0);
    for (let l = 0; l < 2; l++)
      for (let i = 0; i < 30; i++)
        expect(JSON.parse(readFileSync(path.join(dir, `saw-t${l}_${i}`), "utf8"))).toEqual({
          n: 1,
          dir: path.join(realpathSync(dir), "scratch", "g"),
        });
  });

  it("imports a module ahead of its first call with the env its top level would have seen", () => {
    const dir = makeProject({
      "dagwright.yaml": layeredSpec(1, 3, () => '{file: "top.ts:top", env: {GREETING: "hi"}}'),
      "top.ts": [
        'import { writeFileSync } from "node:fs";',
        "const atImport = `${process.env.OUTPUT_PIPELINE_DIR} ${process.env.GREETING}`;",
        "export function top(): void {",
        "  writeFileSync(`top-${process.env.DAGWRIGHT_TASK}`, atImport);",
        "}",
        "",
      ].join("\n"),
    });
    const r = run(dir, "-j", "1");
    expect(r.code, r.stderr).toBe(0);
    const scratch = path.join(realpathSync(dir), "scratch", "g");
    for (let i = 0; i < 3; i++)
      expect(readFileSync(path.join(dir, `top-t0_${i}`), "utf8")).toBe(`${scratch} hi`);
  });
});
