import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

// Issue 11, reproductions 1 and 6: the spec cache and the no-change memo must decide exactly
// what a full load and plan decide, and an unrelated environment variable must not defeat them.

const SPEC = `settings:
  py_tasks_dir: py_tasks
graphs:
  g:
    tasks:
      a:
tasks:
  a:
    file: a.py
    outputs: [out.txt]
`;

const task = (who: string) =>
  `def a():\n    with open("out.txt", "w") as f:\n        f.write(${JSON.stringify(who)})\n`;

interface Event {
  type: string;
  task?: string;
  reasons?: string[];
  nothingChanged?: boolean;
}

function run(dir: string, env: Record<string, string> = {}) {
  const r = runCli(["run", "--json"], dir, env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const events = jsonLines<Event>(r.stdout);
  return {
    ran: events.filter((e) => e.type === "task-start").map((e) => e.task),
    reasons: events.find((e) => e.type === "task-start")?.reasons ?? [],
    fromMemo: events.at(-1)?.nothingChanged === true,
  };
}

/** Runs until a run is answered from the memo. */
function settle(dir: string, env: Record<string, string> = {}): void {
  for (let i = 0; i < 3; i++) if (run(dir, env).fromMemo) return;
  throw new Error("no run was answered from the no-change memo");
}

describe("shortcuts keyed on what loading and planning read", () => {
  it.each<[string, Record<string, string>]>([
    ["the no-change memo", {}],
    ["the spec cache (memo off)", { DAGWRIGHT_NO_CHANGE_MEMO: "0" }],
  ])("%s: a task file appearing earlier on the search path is run, not called fresh", (_, env) => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "py_tasks/a.py": task("py_tasks") });
    expect(run(dir, env).ran).toEqual(["a"]);
    if (env.DAGWRIGHT_NO_CHANGE_MEMO === undefined) settle(dir);
    else expect(run(dir, env).ran).toEqual([]);
    expect(readFileSync(path.join(dir, "out.txt"), "utf8")).toBe("py_tasks");

    // `ls` (a full load) resolves the root-level file now; run must agree.
    writeFileSync(path.join(dir, "a.py"), task("root"));
    const ls = runCli(["ls", "--json"], dir);
    expect(ls.stdout).toContain('"a.py"');
    const after = run(dir, env);
    expect(after).toMatchObject({ ran: ["a"], fromMemo: false });
    expect(after.reasons.join("; ")).toMatch(/code/);
    expect(readFileSync(path.join(dir, "out.txt"), "utf8")).toBe("root");
    expect(run(dir, env).ran).toEqual([]);
  });

  it("an unrelated environment variable that differs on every run keeps the memo", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "py_tasks/a.py": task("x") });
    run(dir);
    settle(dir);
    for (let i = 0; i < 3; i++)
      expect(run(dir, { TERM_SESSION_ID: `session-${i}`, CI_JOB_ID: String(1000 + i) })).toEqual({
        ran: [],
        reasons: [],
        fromMemo: true,
      });
  });
});
