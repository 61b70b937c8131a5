import { readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { beginAttemptNow, finishAttempt } from "../../src/exec/attempt-records.js";
import { openSqliteStore } from "../../src/state/sqlite-store.js";
import { jsonLines, makeProject, runCli, runCliAsync } from "../helpers.js";

// `a` sources a helper and reads a glob of inputs; `b` is a Python function task, so the memo
// also has to re-probe the python3 version.
const SPEC = `graphs:
  g:
    tasks:
      a:
      b: a
tasks:
  a:
    command: ["sh", "tasks/a.sh"]
    inputs: ["data/*.txt"]
    outputs: [out/a.txt]
  b:
    file: tasks/b.py
    outputs: [out/b.txt]
`;

const FILES = {
  "dagwright.yaml": SPEC,
  ".git/HEAD": "ref: refs/heads/main\n",
  "data/1.txt": "hello\n",
  "tasks/lib.sh": "up() { tr a-z A-Z; }\n",
  "tasks/a.sh": "set -eu\n. tasks/lib.sh\nmkdir -p out\ncat data/*.txt | up > out/a.txt\n",
  "tasks/b.py": "def b():\n    open('out/b.txt', 'w').write(open('out/a.txt').read().lower())\n",
};

interface Event {
  type: string;
  task?: string;
  nothingChanged?: boolean;
  counts?: Record<string, number>;
}

/** The one line the first run on a new branch prints (test/cli/branch-state.test.ts). */
const STARTING_BRANCH = /^branch \S+ has no state yet: starting from \S+'s \(\d+ task records\)\n/;

function run(dir: string, env: Record<string, string> = {}, ...args: string[]) {
  const r = runCli(["run", "--json", ...args], dir, env);
  expect(r.stderr.replace(STARTING_BRANCH, "")).toBe("");
  expect(r.code).toBe(0);
  const events = jsonLines<Event>(r.stdout);
  const end = events.at(-1)!;
  expect(end.type).toBe("run-end");
  return {
    events,
    ran: events.filter((e) => e.type === "task-start").map((e) => e.task),
    fromMemo: end.nothingChanged === true,
  };
}

/** Runs until a run is answered from the memo (the run after a run that ran something plans). */
function settle(dir: string): void {
  for (let i = 0; i < 3; i++) if (run(dir).fromMemo) return;
  throw new Error("no run was answered from the no-change memo");
}

function edit(dir: string, rel: string, text: string): void {
  writeFileSync(path.join(dir, rel), text);
}

describe("the no-change memo", () => {
  it("answers an unchanged rerun without planning, with the same events, and records the run", async () => {
    const dir = makeProject(FILES);
    expect(run(dir).ran).toEqual(["a", "b"]);
    const planned = run(dir);
    expect(planned).toMatchObject({ ran: [], fromMemo: false });
    const memo = run(dir);
    expect(memo).toMatchObject({ ran: [], fromMemo: true });
    const shape = (events: Event[]) => events.map((e) => [e.type, e.task ?? "", e.counts ?? {}]);
    expect(shape(memo.events)).toEqual(shape(planned.events));

    // Humans see the same lines, and are told why it was instant.
    const human = runCli(["run"], dir);
    const humanAgain = runCli(["run"], dir);
    expect(humanAgain.code).toBe(0);
    const strip = (s: string) => s.replace(/ in \d+ ms.*$/m, "");
    expect(strip(humanAgain.stderr)).toBe(strip(human.stderr));
    expect(humanAgain.stderr).toContain("· a fresh\n· b fresh\n");
    expect(humanAgain.stderr).toMatch(
      /done: 0 ran, 2 fresh in \d+ ms \(nothing changed since the last run\)/,
    );

    const store = openSqliteStore(path.join(dir, ".dagwright", "state.db"));
    const runs = await store.runs("g@main");
    await store.close();
    expect(runs).toHaveLength(5);
    expect(runs.every((r) => r.status === "succeeded")).toBe(true);
  });

  it("plans again, and reruns what changed, after any change the decisions rested on", () => {
    const dir = makeProject(FILES);
    run(dir);
    const cases: [string, () => void, (string | undefined)[]][] = [
      // Same size, so only the metadata tells.
      [
        "task file edited",
        () => edit(dir, "tasks/b.py", FILES["tasks/b.py"].replace("'w'", '"w"')),
        ["b"],
      ],
      [
        "sourced helper edited",
        () => edit(dir, "tasks/lib.sh", `# helper\n${FILES["tasks/lib.sh"]}`),
        ["a"],
      ],
      ["a new file matches an input glob", () => edit(dir, "data/2.txt", "world\n"), ["a", "b"]],
      ["an output deleted", () => rmSync(path.join(dir, "out/b.txt")), ["b"]],
      [
        "an output touched, content unchanged",
        () => utimesSync(path.join(dir, "out/a.txt"), new Date(), new Date(Date.now() + 5000)),
        [],
      ],
      ["the spec edited", () => edit(dir, "dagwright.yaml", `# note\n${SPEC}`), []],
      ["the state changed by another run", () => run(dir, {}, "--force", "--only", "a"), []],
      // Planned again (not from the memo): the new branch starts from main's state, so all fresh.
      ["the git branch switched", () => edit(dir, ".git/HEAD", "ref: refs/heads/feature\n"), []],
    ];
    for (const [what, change, expected] of cases) {
      settle(dir);
      change();
      const after = run(dir);
      expect({ what, ran: after.ran, fromMemo: after.fromMemo }).toEqual({
        what,
        ran: expected,
        fromMemo: false,
      });
    }
    // The arguments are part of the command, and so are the environment variables dagwright
    // consults (its own, PATH, SCRATCH_DIR), but not others: a terminal's or CI job's variables.
    settle(dir);
    expect(run(dir, { SOME_SETTING: "1" }).fromMemo).toBe(true);
    expect(run(dir, { HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET: "123" }).fromMemo).toBe(true);
    expect(run(dir, { DAGWRIGHT_SOMETHING: "1" }).fromMemo).toBe(false);
    settle(dir);
    expect(run(dir, { SCRATCH_DIR: path.join(dir, "scratch") }).fromMemo).toBe(false);
    settle(dir);
    expect(run(dir, {}, "-j", "1").fromMemo).toBe(false);
    expect(readFileSync(path.join(dir, "out/b.txt"), "utf8")).toBe("hello\nworld\n");
  });

  it("is not used while another runner holds the namespace's lock", async () => {
    const dir = makeProject(FILES);
    run(dir);
    settle(dir);
    const store = openSqliteStore(path.join(dir, ".dagwright", "state.db"));
    const lock = await store.acquireLock("g@main", { command: "dagwright run g" }, { wait: false });
    expect(lock.acquired).toBe(true);
    const waiting = runCliAsync(["run", "--json"], dir);
    await new Promise((r) => setTimeout(r, 1500));
    if (lock.acquired) await lock.release();
    await store.close();
    const r = await waiting;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/waiting: g@main is locked by `dagwright run g`/);
    expect(r.stdout).not.toContain("nothingChanged");
  });

  it("plans again when another runner wrote the namespace's state, and reruns what that changed", async () => {
    const dir = makeProject(FILES);
    run(dir);
    settle(dir);
    // A runner elsewhere (a pod, a second checkout on the same state file) records b as failed.
    const store = openSqliteStore(path.join(dir, ".dagwright", "state.db"));
    const runId = await store.beginRun({
      namespace: "g@main",
      graph: "g",
      branch: "main",
      command: "dagwright run-task g b",
    });
    const id = await beginAttemptNow(store, {
      runId,
      namespace: "g@main",
      task: "b",
      fingerprint: "elsewhere",
      parts: {},
    });
    await finishAttempt(store, id, {
      failure: { status: "failed", error: "exit code 1", durationMs: 1 },
    });
    await store.close();
    expect(run(dir)).toMatchObject({ ran: ["b"], fromMemo: false });
  });

  it("is off with DAGWRIGHT_NO_CHANGE_MEMO=0", () => {
    const dir = makeProject(FILES);
    run(dir);
    const off = { DAGWRIGHT_NO_CHANGE_MEMO: "0" };
    expect(run(dir, off).fromMemo).toBe(false);
    expect(run(dir, off).fromMemo).toBe(false);
  });
});
