import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli, runCliAsync } from "../helpers.js";

/** A shell task that prints which run of it this is (1, 2, …), counting in a file. */
const COUNTER = `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "run $n"`;

const FAN_SPEC = `graphs:
  g:
    tasks:
      states:
      fan: states
      bundled: states
tasks:
  states:
    file: py_tasks.py
    cache_result: true
    iterable_item: state
  fan:
    command: 'echo "item $state"'
    map_over: state
  bundled:
    file: py_tasks.py
    map_over: state
    bundle_size: 2
`;

const PY_TASKS = `def states():
    print("listing states")
    return ["NC", "SC"]

def bundled(state):
    print(f"python item {state}")

def greet():
    print("hello from python")
`;

function logFiles(dir: string, ...parts: string[]): string[] {
  const d = path.join(dir, ".dagwright", "logs", "g@default", ...parts);
  return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith(".log")) : [];
}

describe("dagwright logs", () => {
  it("prints the output of a task's last attempt, with or without the graph name", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      hello:\ntasks:\n  hello:\n    command: "echo hello; echo world"\n`,
    });
    expect(runCli(["run"], dir).code).toBe(0);
    const r = runCli(["logs", "g", "hello"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# dagwright hello \S+ sh -c .*\nhello\nworld\n$/);
    expect(runCli(["logs", "hello"], dir).stdout).toBe(r.stdout);
  });

  it("keeps the last 5 attempt logs by default, and --attempt picks an older one", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      count:\ntasks:\n  count:\n    command: '${COUNTER}'\n`,
    });
    for (let i = 0; i < 7; i++) expect(runCli(["run", "--force"], dir).code).toBe(0);
    expect(logFiles(dir, "count")).toHaveLength(5);
    expect(runCli(["logs", "g", "count"], dir).stdout).toContain("run 7\n");
    expect(runCli(["logs", "g", "count", "--attempt", "1"], dir).stdout).toContain("run 3\n");
    expect(runCli(["logs", "g", "count", "--attempt", "-2"], dir).stdout).toContain("run 6\n");
    const list = runCli(["logs", "g", "count", "--list"], dir);
    expect(list.stdout.trim().split("\n")).toHaveLength(5);
    expect(list.stdout.trim().split("\n")[4]).toMatch(/^ {2}5 {2}\S+Z {2}succeeded /);
    const out = runCli(["logs", "g", "count", "--attempt", "6"], dir);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--attempt 6: task "count" has 5 kept attempt logs');
  });

  it("keeps as many as DAGWRIGHT_KEEP_LOGS or settings.keep_logs say", () => {
    const spec = `graphs:\n  g:\n    tasks:\n      count:\ntasks:\n  count:\n    command: '${COUNTER}'\n`;
    const dir = makeProject({ "dagwright.yaml": `${spec}settings:\n  keep_logs: 2\n` });
    for (let i = 0; i < 4; i++) runCli(["run", "--force"], dir);
    expect(logFiles(dir, "count")).toHaveLength(2);
    runCli(["run", "--force"], dir, { DAGWRIGHT_KEEP_LOGS: "1" });
    expect(logFiles(dir, "count")).toHaveLength(1);
    const bad = runCli(["run", "--force"], dir, { DAGWRIGHT_KEEP_LOGS: "none" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('DAGWRIGHT_KEEP_LOGS must be a whole number ≥ 1, received "none"');
  });

  it("gives each retry its own log", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      flaky:\ntasks:\n  flaky:\n    command: '${COUNTER}; test $n -gt 1'\n    retries: 1\n`,
    });
    const r = runCli(["run"], dir, { DAGWRIGHT_RETRY_BACKOFF_MS: "1" });
    expect(r.code, r.stderr).toBe(0);
    expect(runCli(["logs", "flaky", "--attempt", "1"], dir).stdout).toContain(
      "run 1\ndagwright: task 'flaky' failed: exit code 1\n",
    );
    expect(runCli(["logs", "flaky"], dir).stdout).toContain("run 2\n");
  });

  it("shows a Python function's prints (the warm worker's log)", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      greet:\ntasks:\n  greet:\n    file: py_tasks.py\n`,
      "py_tasks.py": PY_TASKS,
    });
    expect(runCli(["run"], dir).code).toBe(0);
    expect(runCli(["logs", "greet"], dir).stdout).toContain("hello from python\n");
  });

  it("lists a fan-out task's items, and --item prints one item's log (bundled or not)", () => {
    const dir = makeProject({ "dagwright.yaml": FAN_SPEC, "py_tasks.py": PY_TASKS });
    expect(runCli(["run"], dir).code).toBe(0);
    const items = runCli(["logs", "g", "fan"], dir);
    expect(items.code).toBe(0);
    expect(items.stdout).toBe("NC  succeeded\nSC  succeeded\n");
    expect(items.stderr).toContain(
      'pass --item KEY for an item\'s log, e.g. dagwright logs g fan --item "NC"',
    );
    const sc = runCli(["logs", "g", "fan", "--item", "SC"], dir);
    expect(sc.stdout).toContain("item SC\n");
    expect(sc.stdout).not.toContain("item NC");
    // Both items ran in one bundle: its log is SC's too.
    expect(runCli(["logs", "g", "bundled", "--item", "SC"], dir).stdout).toContain(
      "python item NC\n# item SC\npython item SC\n",
    );
    const wrong = runCli(["logs", "g", "fan", "--item", "NCC"], dir);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('task "fan" has no item "NCC" in g@default. Did you mean "NC"?');
  });

  it("keeps items whose names sanitize alike (a%, a_, a\\) in logs of their own", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      keys:
      fan: keys
tasks:
  keys:
    file: keys.py
    cache_result: true
    iterable_item: key
  fan:
    command: 'echo "item $key"'
    map_over: key
`,
      "keys.py": `def keys():\n    return ["a%", "a_", "a\\\\", ".a", "a"]\n`,
    });
    expect(runCli(["run"], dir).code).toBe(0);
    const dirs = readdirSync(path.join(dir, ".dagwright", "logs", "g@default", "fan"));
    expect(dirs).toHaveLength(5);
    expect(dirs).toContain("a_");
    expect(dirs).toContain("a");
    for (const key of ["a%", "a_", "a\\", ".a", "a"]) {
      const r = runCli(["logs", "g", "fan", "--item", key], dir);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split("\n").filter((l) => l.startsWith("item "));
      expect(lines).toEqual([`item ${key}`]);
    }
  });

  it("says when a task is unknown (exit 2) or never ran (exit 1)", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      hello:\ntasks:\n  hello:\n    command: "echo hello"\n`,
    });
    const unknown = runCli(["logs", "g", "helo"], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('graph "g" has no task "helo". Did you mean "hello"?');
    const never = runCli(["logs", "g", "hello"], dir);
    expect(never.code).toBe(1);
    expect(never.stderr).toContain('task "hello" has no logs: it never ran in g@default');
    expect(never.stderr).toContain("dagwright run g --only hello");
  });

  it("--follow prints a running attempt until it ends", async () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      slow:\ntasks:\n  slow:\n    command: "echo start; sleep 1; echo end"\n`,
    });
    const run = runCliAsync(["run"], dir);
    for (let i = 0; i < 600 && logFiles(dir, "slow").length === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    const followed = await runCliAsync(["logs", "g", "slow", "--follow"], dir);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toMatch(/\nstart\nend\n$/);
    expect((await run).code).toBe(0);
  });
});

describe("dagwright run -v", () => {
  it("streams each task's output with a `task │` prefix, items as `task[item] │`", () => {
    const dir = makeProject({ "dagwright.yaml": FAN_SPEC, "py_tasks.py": PY_TASKS });
    const r = runCli(["run", "-v"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("states │ listing states\n");
    expect(r.stderr).toContain("fan[NC] │ item NC\n");
    expect(r.stderr).toContain("fan[SC] │ item SC\n");
    expect(r.stderr).toContain("bundled[SC] │ python item SC\n");
    expect(r.stderr).not.toContain("# dagwright");
    const quiet = runCli(["run", "--force"], dir);
    expect(quiet.stderr).not.toContain("│");
  });

  it("never mixes the lines of tasks running in parallel", () => {
    const line = (c: string) => c.repeat(300);
    const task = (c: string) =>
      `  ${c}:\n    command: 'for i in $(seq 200); do echo ${line(c)}; done'\n`;
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      a:\n      b:\ntasks:\n${task("a")}${task("b")}`,
    });
    const r = runCli(["run", "-v", "-j", "2"], dir);
    expect(r.code, r.stderr).toBe(0);
    const streamed = r.stderr.split("\n").filter((l) => l.includes("│"));
    expect(streamed).toHaveLength(400);
    for (const l of streamed) expect([`a │ ${line("a")}`, `b │ ${line("b")}`]).toContain(l);
  });

  it("with --json, emits log events only when asked", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  g:\n    tasks:\n      hello:\ntasks:\n  hello:\n    command: "echo hello"\n`,
    });
    type Event = { type: string; task?: string; line?: string };
    const verbose = jsonLines<Event>(runCli(["run", "--json", "-v"], dir).stdout);
    expect(verbose.filter((e) => e.type === "log")).toEqual([
      expect.objectContaining({ type: "log", task: "hello", line: "hello" }),
    ]);
    const plain = jsonLines<Event>(runCli(["run", "--json", "--force"], dir).stdout);
    expect(plain.some((e) => e.type === "log")).toBe(false);
  });
});
