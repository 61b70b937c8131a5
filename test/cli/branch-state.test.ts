import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

interface RunEvent {
  type: string;
  task?: string;
  reasons?: string[];
  toRun?: number;
}

/** The branch comes from git here, never from the environment the tests run in. */
const NO_OVERRIDE = { DAGWRIGHT_BRANCH: "", DAGWRIGHT_BASE_BRANCH: "", DAGWRIGHT_STATE_URL: "" };

/** `dagwright run --json`: the tasks that started (with their reasons) and the stderr lines. */
function run(dir: string, env: Record<string, string> = {}, ...args: string[]) {
  const r = runCli(["run", "--json", ...args], dir, { ...NO_OVERRIDE, ...env });
  const started: Record<string, string[]> = {};
  const items: Record<string, number> = {};
  for (const e of jsonLines<RunEvent>(r.stdout)) {
    if (e.type === "task-start" && e.task) started[e.task] = e.reasons ?? [];
    if (e.type === "task-items" && e.task) items[e.task] = e.toRun ?? -1;
  }
  return { ...r, started, items };
}

function git(dir: string, ...args: string[]): void {
  const r = spawnSync(
    "git",
    ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args],
    { cwd: dir, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
}

// b's output is a's: a change to b's own input (b.txt) reruns b and leaves b.out as it was.
const SPEC = `graphs:
  g:
    tasks:
      a:
      b: a
tasks:
  a: {command: [sh, -c, "cat in.txt > a.out"], inputs: [in.txt], outputs: [a.out]}
  b: {command: [sh, -c, "cat a.out > b.out"], inputs: [b.txt], outputs: [b.out]}
`;

/** A git repository on main whose pipeline ran once there. */
function projectRanOnMain(): string {
  const dir = makeProject({
    "dagwright.yaml": SPEC,
    "in.txt": "1\n",
    "b.txt": "x\n",
    ".gitignore": ".dagwright/\n*.out\n",
  });
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", ".");
  git(dir, "commit", "-q", "-m", "pipeline");
  const first = run(dir);
  expect(first.code).toBe(0);
  expect(Object.keys(first.started).sort()).toEqual(["a", "b"]);
  return dir;
}

describe("a new git branch starts from its parent's state", () => {
  it("says so on its first run and reruns nothing; then only what changes on the branch reruns", () => {
    const dir = projectRanOnMain();
    git(dir, "checkout", "-q", "-b", "feature");

    const first = run(dir);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(
      "branch feature has no state yet: starting from main's (2 task records)\n",
    );
    expect(first.started).toEqual({});

    const again = run(dir);
    expect(again.stderr).not.toContain("no state yet");
    expect(again.started).toEqual({});

    writeFileSync(path.join(dir, "b.txt"), "y\n");
    git(dir, "commit", "-q", "-am", "b.txt on feature");
    const changed = run(dir);
    expect(changed.code).toBe(0);
    expect(changed.started).toEqual({ b: ["input changed: b.txt"] });
  });

  it("leaves the parent's state as it was: back on main, everything is fresh", () => {
    const dir = projectRanOnMain();
    git(dir, "checkout", "-q", "-b", "feature");
    writeFileSync(path.join(dir, "b.txt"), "y\n");
    git(dir, "commit", "-q", "-am", "b.txt on feature");
    expect(run(dir).started).toEqual({ b: ["input changed: b.txt"] });

    git(dir, "checkout", "-q", "main");
    const back = run(dir);
    expect(back.code).toBe(0);
    expect(back.stderr).not.toContain("no state yet");
    expect(back.started).toEqual({});
  });

  it("status shows the parent's state without copying it; the first run then copies it", () => {
    const dir = projectRanOnMain();
    git(dir, "checkout", "-q", "-b", "feature");

    for (let i = 0; i < 2; i++) {
      const status = runCli(["status"], dir, NO_OVERRIDE);
      expect(status.code).toBe(0);
      expect(status.stderr).toBe(
        "branch feature has no state yet: showing main's (2 task records), which its first run starts from\n",
      );
      expect(status.stdout).toBe("g (g@main)\n  a  fresh\n  b  fresh\n");
    }
    expect(run(dir).stderr).toContain("starting from main's (2 task records)");
    expect(runCli(["status"], dir, NO_OVERRIDE)).toMatchObject({
      stderr: "",
      stdout: "g (g@feature)\n  a  fresh\n  b  fresh\n",
    });
  });

  it("follows DAGWRIGHT_BRANCH like a git branch", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "in.txt": "1\n", "b.txt": "x\n" });
    expect(Object.keys(run(dir, { DAGWRIGHT_BRANCH: "main" }).started)).toHaveLength(2);
    const feature = run(dir, { DAGWRIGHT_BRANCH: "feature/x" });
    expect(feature.stderr).toContain(
      "branch feature/x has no state yet: starting from main's (2 task records)",
    );
    expect(feature.started).toEqual({});
  });

  it("starts from the configured base branch (setting, then DAGWRIGHT_BASE_BRANCH), and from nothing with none", () => {
    const spec = `settings: {base_branch: develop}\n${SPEC}`;
    const dir = makeProject({ "dagwright.yaml": spec, "in.txt": "1\n", "b.txt": "x\n" });
    run(dir, { DAGWRIGHT_BRANCH: "develop" });
    run(dir, { DAGWRIGHT_BRANCH: "main" });
    expect(run(dir, { DAGWRIGHT_BRANCH: "f1" }).stderr).toContain("starting from develop's");
    expect(run(dir, { DAGWRIGHT_BRANCH: "f2", DAGWRIGHT_BASE_BRANCH: "main" }).stderr).toContain(
      "starting from main's",
    );

    const clean = run(dir, { DAGWRIGHT_BRANCH: "f3", DAGWRIGHT_BASE_BRANCH: "none" });
    expect(clean.stderr).not.toContain("no state yet");
    expect(clean.started).toEqual({ a: ["never ran"], b: ["never ran"] });
  });

  it("falls back to master when main has no state, and copies nothing when no parent has any", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "in.txt": "1\n", "b.txt": "x\n" });
    const alone = run(dir, { DAGWRIGHT_BRANCH: "feature" });
    expect(alone.stderr).not.toContain("no state yet");
    expect(alone.started).toEqual({ a: ["never ran"], b: ["never ran"] });

    run(dir, { DAGWRIGHT_BRANCH: "master" });
    expect(run(dir, { DAGWRIGHT_BRANCH: "other" }).stderr).toContain(
      "branch other has no state yet: starting from master's (2 task records)",
    );
  });

  it("copies the records of fan-out items, so no item reruns on the new branch", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      lst:
      per_state: lst
tasks:
  lst: {file: tasks/lst.py, cache_result: true, iterable_item: state}
  per_state: {file: tasks/per_state.py, map_over: state, outputs: ["out/\${state}.txt"]}
`,
      "tasks/lst.py": 'def lst():\n    return ["NC", "SC", "VA"]\n',
      "tasks/per_state.py":
        "def per_state(state):\n    open(f'out/{state}.txt', 'w').write(state)\n",
      "out/.keep": "",
    });
    const main = run(dir, { DAGWRIGHT_BRANCH: "main" });
    expect(main.code).toBe(0);
    expect(main.items).toEqual({ per_state: 3 });

    const feature = run(dir, { DAGWRIGHT_BRANCH: "feature" });
    expect(feature.code).toBe(0);
    expect(feature.stderr).toContain("starting from main's (5 task records)");
    expect(feature.started).toEqual({});
    expect(feature.items.per_state ?? 0).toBe(0);
  });
});
