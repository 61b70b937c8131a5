import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

// A fan-out is planned a page of items at a time (one state-store read per page). Forced to pages
// of 7 items, a 20,000-item fan-out must decide exactly what it decides in one default page.

interface Event {
  type: string;
  task?: string;
  error?: string;
  reasons?: string[];
  total?: number;
  toRun?: number;
  fresh?: number;
}

const ITEMS = 20_000;

function fanOutProject(items = ITEMS): string {
  return makeProject({
    "dagwright.yaml": `graphs:
  g:
    tasks:
      lst:
      f: lst
tasks:
  lst: {file: lst.ts, cache_result: true, iterable_item: n}
  f: {file: f.ts, map_over: n, bundle_size: 1000}
`,
    "lst.ts": `export function lst(): string[] {\n  return Array.from({ length: ${items} }, (_, i) => String(i));\n}\n`,
    // Item 13 fails the first time; every other call succeeds.
    "f.ts": [
      'import { existsSync, writeFileSync } from "node:fs";',
      "export function f(input: { n: string }): void {",
      '  if (input.n === "13" && !existsSync("failed_once")) {',
      '    writeFileSync("failed_once", "");',
      '    throw new Error("13 fails the first time");',
      "  }",
      "}",
      "",
    ].join("\n"),
  });
}

/** What a run of `f` decided and said: its item counts, its reasons, its failure. */
function runF(dir: string, env: Record<string, string>) {
  const r = runCli(["run", "--json"], dir, { DAGWRIGHT_NO_CHANGE_MEMO: "0", ...env });
  const events = jsonLines<Event>(r.stdout).filter((e) => e.task === "f");
  const pick = (type: string) => events.find((x) => x.type === type);
  const items = pick("task-items");
  return {
    code: r.code,
    start: pick("task-start")?.reasons,
    items: items && { total: items.total, toRun: items.toRun, fresh: items.fresh },
    failed: pick("task-failed")?.error,
    fresh: events.some((e) => e.type === "task-fresh"),
  };
}

function statusOfF(dir: string, env: Record<string, string>): string {
  const r = runCli(["status"], dir, env);
  return r.stdout.split("\n").find((l) => l.trim().startsWith("f ")) ?? r.stdout + r.stderr;
}

/** The same steps, with the given environment: run, status, rerun, status, one item changed. */
function scenario(env: Record<string, string>) {
  const dir = fanOutProject();
  const steps = [];
  steps.push(runF(dir, env));
  steps.push(statusOfF(dir, env));
  steps.push(runF(dir, env));
  steps.push(runF(dir, env));
  steps.push(statusOfF(dir, env));
  writeFileSync(
    path.join(dir, "lst.ts"),
    `export function lst(): string[] {\n  const xs = Array.from({ length: ${ITEMS} }, (_, i) => String(i));\n  xs[4321] = "changed";\n  return xs;\n}\n`,
  );
  steps.push(runF(dir, env));
  steps.push(runF(dir, env));
  return steps;
}

describe("fan-out planned in pages", () => {
  it("decides a 20,000-item fan-out in pages of 7 exactly as in one page: reruns nothing, then only the failed item, then only the changed one", () => {
    const paged = scenario({ DAGWRIGHT_ITEM_PAGE_SIZE: "7" });
    expect(paged).toEqual([
      {
        code: 1,
        start: [`${ITEMS} of ${ITEMS} items to run (first: 0: never ran)`],
        items: { total: ITEMS, toRun: ITEMS, fresh: 0 },
        failed: `${ITEMS - 1}/${ITEMS} items done, 1 failed (13: Error: 13 fails the first time)`,
        fresh: false,
      },
      expect.stringMatching(
        new RegExp(`failed +${ITEMS - 1}/${ITEMS} items done, 1 failed \\(13: Error: 13 fails`),
      ),
      {
        code: 0,
        start: [`1 of ${ITEMS} items to run (first: 13: failed last time)`],
        items: { total: ITEMS, toRun: 1, fresh: ITEMS - 1 },
        failed: undefined,
        fresh: false,
      },
      { code: 0, start: undefined, items: undefined, failed: undefined, fresh: true },
      expect.stringMatching(/^ *f +fresh *$/),
      {
        code: 0,
        start: [`1 of ${ITEMS} items to run (first: changed: never ran)`],
        items: { total: ITEMS, toRun: 1, fresh: ITEMS - 1 },
        failed: undefined,
        fresh: false,
      },
      { code: 0, start: undefined, items: undefined, failed: undefined, fresh: true },
    ]);
    expect(scenario({})).toEqual(paged);
  }, 240_000);

  it("runs a 100,000-item fan-out, reruns nothing and answers status within a 96 MiB heap", () => {
    // Per-item records loaded whole took ~6 KB an item: this state made `run` and `status` die
    // with a JavaScript heap out-of-memory. A page at a time, memory does not follow the items.
    const dir = fanOutProject(100_000);
    const env = { NODE_OPTIONS: "--max-old-space-size=96" };
    const first = runCli(["run"], dir, env);
    expect(first.stderr).not.toMatch(/heap out of memory/);
    expect(first.code).toBe(1); // item 13 fails the first time
    const again = runF(dir, env);
    expect(again).toMatchObject({
      code: 0,
      start: ["1 of 100000 items to run (first: 13: failed last time)"],
    });
    expect(runF(dir, env)).toMatchObject({ code: 0, fresh: true, items: undefined });
    expect(statusOfF(dir, env)).toMatch(/^ *f +fresh *$/);
  }, 240_000);
});
