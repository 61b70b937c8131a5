import { execSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Executor } from "../../src/exec/executor.js";
import { jsonLines, makeProject, REPO, runCli as runCliPlain } from "../helpers.js";

const SPEC = `config:
  suffix: "!"
graphs:
  g:
    tasks:
      a:
      b: a
      c: b
tasks:
  a:
    file: tasks/a.py
    inputs: [data/in.txt]
    outputs: [out/a.txt]
  b:
    command: ["sh", "tasks/b.sh"]
    outputs: [out/b.txt]
  c:
    file: tasks/c.ts
    args: {times: 2}
    outputs: [out/c.txt]
`;

const FILES = {
  "dagwright.yaml": SPEC,
  "data/in.txt": "hello\n",
  "tasks/helper.py": "def shout(s):\n    return s.upper()\n",
  "tasks/a.py": [
    "import os",
    "from helper import shout",
    "",
    "def a(suffix):",
    "    os.makedirs('out', exist_ok=True)",
    "    text = open('data/in.txt').read().strip()",
    "    open('out/a.txt', 'w').write(shout(text) + suffix + '\\n')",
    "",
  ].join("\n"),
  "tasks/b.sh": "set -eu\ntr 'A-Z' 'a-z' < out/a.txt > out/b.txt\n",
  "tasks/c.ts": [
    'import { readFileSync, writeFileSync } from "node:fs";',
    "export function c(input: { args: { times: number } }): number {",
    '  const text = readFileSync("out/b.txt", "utf8").trim();',
    '  writeFileSync("out/c.txt", `${text.repeat(input.args.times)}\\n`);',
    "  return text.length;",
    "}",
    "",
  ].join("\n"),
};

interface Event {
  type: string;
  task?: string;
  reasons?: string[];
  reason?: string;
  error?: string;
}

type Lib = typeof import("../../src/index.js");
/** The built package, as a library user imports it. */
const lib = (): Promise<Lib> => import(path.join(REPO, "dist", "index.js")) as Promise<Lib>;

/** An executor under test: how the CLI selects it, and how a library caller builds one. */
export interface ExecutorCase {
  name: string;
  /** Added to every `dagwright run` of the suite. */
  cliArgs: string[];
  create(lib: Lib): Executor;
}

/** A state store under test: the environment that points a project at it. */
export interface StoreCase {
  name: string;
  env(dir: string): Record<string, string>;
}

/** Every executor the suite checks; a new one adds a row here (and its service, if any). */
export const EXECUTORS: readonly ExecutorCase[] = [
  { name: "local", cliArgs: ["--executor", "local"], create: (l) => new l.LocalExecutor() },
];

/**
 * The behaviour every (executor, state store) pair must give (DESIGN.md: one suite, every
 * backend): change detection, failures, retries and timeouts, status and explain through the
 * real CLI, and the executor a library caller passes being the one that runs the tasks.
 */
export function describeRuns(
  store: StoreCase,
  executors: readonly ExecutorCase[] = EXECUTORS,
): void {
  for (const executor of executors) {
    const h = harness(executor, store);
    describe(`${executor.name} executor on ${store.name}`, () => {
      describeChangeDetection(h);
      describeFailures(h);
      describeStatusAndExplain(h);
      describeFanOut(h);
      describeExecutorSeam(h);
    });
  }
}

/** How the tests of one (executor, store) pair run the CLI. */
interface Harness {
  executor: ExecutorCase;
  store: StoreCase;
  /** The real CLI against the store; `run` gets the executor's flags. */
  runCli(
    args: string[],
    dir: string,
    env?: Record<string, string>,
  ): { code: number; stdout: string; stderr: string };
  /** `dagwright run --json`: its events, the tasks it started and their reasons. */
  run(dir: string, ...args: string[]): RunOutcome;
}

interface RunOutcome {
  code: number;
  stdout: string;
  stderr: string;
  events: Event[];
  ran: (string | undefined)[];
  reasons: Record<string, string[] | undefined>;
}

function harness(executor: ExecutorCase, store: StoreCase): Harness {
  // Each project is its own state branch (the store's env says so), so tests never see each other.
  const runCli = (args: string[], dir: string, env: Record<string, string> = {}) => {
    const withExecutor = args[0] === "run" ? ["run", ...executor.cliArgs, ...args.slice(1)] : args;
    return runCliPlain(withExecutor, dir, { ...store.env(dir), ...env });
  };
  const run = (dir: string, ...args: string[]): RunOutcome => {
    const r = runCli(["run", "--json", ...args], dir, { DAGWRIGHT_RETRY_BACKOFF_MS: "10" });
    const events = jsonLines<Event>(r.stdout);
    const starts = events.filter((e) => e.type === "task-start");
    const ran = starts.map((e) => e.task);
    const reasons = Object.fromEntries(starts.map((e) => [e.task, e.reasons]));
    return { ...r, events, ran, reasons };
  };
  return { executor, store, runCli, run };
}

function describeChangeDetection({ run }: Harness): void {
  describe("dagwright run: change detection", () => {
    it("runs everything the first time, then nothing when nothing changed", () => {
      const dir = makeProject(FILES);
      const first = run(dir);
      expect(first.code).toBe(0);
      expect(first.ran).toEqual(["a", "b", "c"]);
      expect(first.reasons.a).toEqual(["never ran"]);
      expect(readFileSync(path.join(dir, "out/c.txt"), "utf8")).toBe("hello!hello!\n");
      const second = run(dir);
      expect(second.code).toBe(0);
      expect(second.ran).toEqual([]);
      expect(second.events.filter((e) => e.type === "task-fresh").map((e) => e.task)).toEqual([
        "a",
        "b",
        "c",
      ]);
    });

    it("reruns a task when its file changes, and keeps downstream fresh when its output is byte-identical", () => {
      const dir = makeProject(FILES);
      run(dir);
      writeFileSync(
        path.join(dir, "tasks/a.py"),
        FILES["tasks/a.py"]!.replace("exist_ok=True)", "exist_ok=True)  # a comment"),
      );
      const r = run(dir);
      expect(r.ran).toEqual(["a"]);
      expect(r.reasons.a).toEqual(["code: function a in tasks/a.py changed"]);
    });

    it("reruns a task when an input is rewritten with the same size and its old mtime (cp -p, rsync -a)", () => {
      const dir = makeProject(FILES);
      const input = path.join(dir, "data/in.txt");
      const past = new Date("2024-01-01T00:00:00Z");
      utimesSync(input, past, past);
      run(dir);
      writeFileSync(input, "howdy\n"); // as long as "hello\n"
      utimesSync(input, past, past);
      const r = run(dir);
      expect(r.ran).toEqual(["a", "b", "c"]);
      expect(r.reasons.a).toEqual(["input changed: data/in.txt"]);
      expect(readFileSync(path.join(dir, "out/c.txt"), "utf8")).toBe("howdy!howdy!\n");
    });

    it("reruns a task when a helper it imports changes, and downstream when the output differs", () => {
      const dir = makeProject(FILES);
      run(dir);
      writeFileSync(
        path.join(dir, "tasks/helper.py"),
        "def shout(s):\n    return s.upper() + '?'\n",
      );
      const r = run(dir);
      expect(r.ran).toEqual(["a", "b", "c"]);
      expect(r.reasons.a).toEqual(["code changed: tasks/helper.py"]);
      expect(r.reasons.b).toEqual(["upstream output changed: a"]);
    });

    it("reruns when an input changes", () => {
      const dir = makeProject(FILES);
      run(dir);
      writeFileSync(path.join(dir, "data/in.txt"), "world\n");
      const r = run(dir);
      expect(r.ran).toEqual(["a", "b", "c"]);
      expect(r.reasons.a).toEqual(["input changed: data/in.txt"]);
      expect(readFileSync(path.join(dir, "out/c.txt"), "utf8")).toBe("world!world!\n");
    });

    it("reruns a task whose output was deleted or edited", () => {
      const dir = makeProject(FILES);
      run(dir);
      rmSync(path.join(dir, "out/b.txt"));
      const deleted = run(dir);
      expect(deleted.ran).toEqual(["b"]);
      expect(deleted.reasons.b).toEqual(["output missing: out/b.txt"]);
      writeFileSync(path.join(dir, "out/c.txt"), "tampered\n");
      const edited = run(dir);
      expect(edited.ran).toEqual(["c"]);
      expect(edited.reasons.c).toEqual(["output modified: out/c.txt"]);
    });

    it("reruns when args or config change", () => {
      const dir = makeProject(FILES);
      run(dir);
      writeFileSync(path.join(dir, "dagwright.yaml"), SPEC.replace("times: 2", "times: 3"));
      const args = run(dir);
      expect(args.ran).toEqual(["c"]);
      expect(args.reasons.c).toEqual(["args changed"]);
      const config = run(dir, "--set", "suffix=?");
      expect(config.ran).toContain("a");
      expect(config.reasons.a).toEqual(["config changed: suffix"]);
    });

    it("--force reruns everything selected, --only runs a subset", () => {
      const dir = makeProject(FILES);
      run(dir);
      expect(run(dir, "--force").ran).toEqual(["a", "b", "c"]);
      expect(run(dir, "--force", "--only", "b").ran).toEqual(["b"]);
    });

    it("--dry-run says what would run and why, and runs nothing", () => {
      const dir = makeProject(FILES);
      const r = run(dir, "--dry-run");
      expect(r.code).toBe(0);
      expect(r.ran).toEqual([]);
      expect(
        r.events.filter((e) => e.type === "task-would-run").map((e) => [e.task, e.reasons]),
      ).toEqual([
        ["a", ["never ran"]],
        ["b", ["never ran"]],
        ["c", ["never ran"]],
      ]);
      expect(existsSync(path.join(dir, "out/a.txt"))).toBe(false);
    });
  });
}

function describeFailures({ run, runCli }: Harness): void {
  describe("dagwright run: failures", () => {
    it("exits 1 when a task fails, names the exit code and log, and skips its downstream", () => {
      const dir = makeProject({ ...FILES, "tasks/b.sh": "echo 'something broke' >&2\nexit 3\n" });
      const r = runCli(["run"], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("✗ b: exit code 3");
      expect(r.stderr).toContain("something broke");
      expect(r.stderr).toContain("- c skipped: upstream b failed");
      expect(r.stderr).toMatch(/1 ran, 0 fresh, 1 failed, 1 skipped/);
      // the failed task is not recorded done: the next run retries it
      writeFileSync(path.join(dir, "tasks/b.sh"), FILES["tasks/b.sh"]);
      const again = run(dir);
      expect(again.ran).toEqual(["b", "c"]);
      expect(again.reasons.b).toEqual(["failed last time"]);
    });

    it("fails a task that exits 0 without writing a declared output, naming the path", () => {
      const dir = makeProject({ ...FILES, "tasks/b.sh": "true\n" });
      const r = run(dir);
      expect(r.code).toBe(1);
      expect(r.events.find((e) => e.type === "task-failed")?.error).toBe(
        "exited 0 but did not write its declared output: out/b.txt",
      );
    });

    it("retries a failing task up to `retries` times", () => {
      const spec =
        "graphs:\n  g: {tasks: {flaky: }}\ntasks:\n  flaky:\n    command: [sh, -c, 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 2 ]']\n    retries: 2\n";
      const dir = makeProject({ "dagwright.yaml": spec });
      const r = run(dir);
      expect(r.code).toBe(0);
      expect(r.events.filter((e) => e.type === "task-retry")).toHaveLength(2);
      expect(readFileSync(path.join(dir, "n"), "utf8").trim()).toBe("3");
    });

    it("kills a task and its grandchildren at its timeout", () => {
      // A duration no other test (or parallel test file) uses, to find leftovers with ps.
      const secs = (90 + Math.random()).toFixed(6);
      const spec = `graphs:\n  g: {tasks: {slow: }}\ntasks:\n  slow:\n    command: "sleep ${secs} & sleep ${secs}"\n    timeout: 0.5\n`;
      const dir = makeProject({ "dagwright.yaml": spec });
      const r = run(dir);
      expect(r.code).toBe(1);
      expect(r.events.find((e) => e.type === "task-failed")?.error).toMatch(
        /timed out after 0.5 ?s/,
      );
      const ps = execSync("ps -eo args").toString();
      expect(ps).not.toContain(`sleep ${secs}`);
    });
  });
}

function describeStatusAndExplain({ run, runCli }: Harness): void {
  describe("dagwright status and explain", () => {
    it("lists fresh, stale with the reason, and never-ran tasks", () => {
      const dir = makeProject(FILES);
      const before = runCli(["status"], dir);
      expect(before.code).toBe(0);
      expect(before.stdout).toContain("a  never ran");
      run(dir);
      writeFileSync(path.join(dir, "data/in.txt"), "changed\n");
      const after = runCli(["status", "--json"], dir);
      const tasks = JSON.parse(after.stdout).tasks as {
        task: string;
        state: string;
        reasons: string[];
      }[];
      expect(tasks.map((t) => [t.task, t.state, t.reasons])).toEqual([
        ["a", "stale", ["input changed: data/in.txt"]],
        ["b", "stale", ["upstream a will rerun"]],
        ["c", "stale", ["upstream b will rerun"]],
      ]);
    });

    it("explain shows which fingerprint part differs, with old and new hashes", () => {
      const dir = makeProject(FILES);
      run(dir);
      writeFileSync(path.join(dir, "tasks/helper.py"), "def shout(s):\n    return s\n");
      const r = runCli(["explain", "g", "a"], dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("a: stale\n  - code changed: tasks/helper.py\n");
      expect(r.stdout).toMatch(/code tasks\/helper\.py: [0-9a-f]{12} → [0-9a-f]{12}/);
    });
  });
}

const SEAM_SPEC = `graphs:
  g:
    tasks:
      a:
      b: a
tasks:
  a:
    command: ["sh", "-c", "mkdir -p out && echo HELLO > out/a.txt"]
    outputs: [out/a.txt]
  b:
    command: ["sh", "-c", "tr A-Z a-z < out/a.txt > out/b.txt"]
    outputs: [out/b.txt]
`;

function describeExecutorSeam({ executor, store, run }: Harness): void {
  describe("Project.run with an executor", () => {
    it("runs a library caller's selection through the executor it passes, and the CLI then finds it fresh", async () => {
      const l = await lib();
      const dir = makeProject({ "dagwright.yaml": SEAM_SPEC });
      const inner = executor.create(l);
      const handed: string[][] = [];
      const spy: Executor = {
        run: (work) => {
          handed.push([...work.selected]);
          return inner.run(work);
        },
      };
      const project = await l.openProject(dir, { env: { ...process.env, ...store.env(dir) } });
      const started: string[] = [];
      try {
        const result = await project.run(
          {},
          {
            executor: spy,
            jobs: 2,
            observer: (e) => {
              if (e.type === "task-start") started.push(e.task);
            },
          },
        );
        expect(result.status).toBe("succeeded");
      } finally {
        await project.close();
      }
      expect(handed).toEqual([["a", "b"]]);
      expect(started).toEqual(["a", "b"]);
      expect(readFileSync(path.join(dir, "out/b.txt"), "utf8")).toBe("hello\n");
      const again = run(dir);
      expect(again.code).toBe(0);
      expect(again.ran).toEqual([]);
    });
  });
}

const FAN_OUT_FILES = {
  "dagwright.yaml": `graphs:
  g:
    tasks:
      states:
      per_state: states
tasks:
  states:
    file: tasks/states.py
    inputs: [data/states.txt]
    cache_result: true
    iterable_item: state
  per_state:
    command: ["sh", "-c", 'mkdir -p out && echo "$state" > "out/$state.txt" && echo "$state" >> calls.txt']
    map_over: state
    outputs: ["out/\${state}.txt"]
`,
  "data/states.txt": "NC SC\n",
  "tasks/states.py": "def states():\n    return open('data/states.txt').read().split()\n",
};

function describeFanOut({ run }: Harness): void {
  describe("dagwright run: fan-out", () => {
    it("runs a mapped task once per item, nothing when nothing changed, and only a new item when one is added", () => {
      const dir = makeProject(FAN_OUT_FILES);
      const calls = () => readFileSync(path.join(dir, "calls.txt"), "utf8").trim().split("\n");
      const first = run(dir);
      expect(first.code).toBe(0);
      expect(first.ran).toEqual(["states", "per_state"]);
      expect(calls().sort()).toEqual(["NC", "SC"]);
      expect(readFileSync(path.join(dir, "out/SC.txt"), "utf8")).toBe("SC\n");
      expect(run(dir).ran).toEqual([]);
      writeFileSync(path.join(dir, "data/states.txt"), "NC SC VA\n");
      const added = run(dir);
      expect(added.code).toBe(0);
      expect(added.ran).toEqual(["states", "per_state"]);
      expect(calls().sort()).toEqual(["NC", "SC", "VA"]);
    });
  });
}
