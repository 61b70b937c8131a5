// TS/JS tasks of a project whose root is not dagwright's working directory (`-f proj/...`, a
// worker, a library caller) run in worker processes started in the root. They must behave as the
// worker threads do: an uncaught error is reported with its message, and nothing outlives a runner
// killed with -9 (Ctrl-C: test/distributed/worker-signals.test.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeProject, runCli } from "../helpers.js";

const SPEC = (fn: string) =>
  `graphs:\n  g:\n    tasks:\n      t:\ntasks:\n  t:\n    file: t.ts:${fn}\n    outputs: [out/t.txt]\n`;

const TASKS = [
  'import { mkdirSync, writeFileSync } from "node:fs";',
  "export function spin(): void {",
  '  writeFileSync("pid", String(process.pid));',
  "  for (;;) {}",
  "}",
  "export async function late(): Promise<void> {",
  '  setTimeout(() => { throw new TypeError("late boom"); }, 10);',
  "  await new Promise((resolve) => setTimeout(resolve, 60_000));",
  "}",
  "",
].join("\n");

/** A project in `proj/` of a parent directory that dagwright runs from (`-f proj/dagwright.yaml`). */
function project(fn: string): { parent: string; dir: string } {
  const parent = makeProject({ "proj/dagwright.yaml": SPEC(fn), "proj/t.ts": TASKS });
  return { parent, dir: path.join(parent, "proj") };
}

/** `dagwright -f proj/dagwright.yaml run` as the leader of its own process group (a terminal's job). */
function startRun(parent: string): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, "-f", "proj/dagwright.yaml", "run"], {
    cwd: parent,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: "ignore",
    detached: true,
  });
  return { child, exit: new Promise((r) => child.on("exit", (code) => r(code))) };
}

async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const taskPid = (dir: string) => Number(readFileSync(path.join(dir, "pid"), "utf8"));

describe("TS/JS tasks in worker processes (a root other than the working directory)", () => {
  it("reports an uncaught error of the task by its message, with its stack in the log", () => {
    const { parent } = project("late");
    const r = runCli(["-f", "proj/dagwright.yaml", "run"], parent);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("TypeError: late boom");
    expect(r.stderr).not.toContain("Node.js v");
    const logs = runCli(["-f", "proj/dagwright.yaml", "logs", "g", "t"], parent);
    expect(logs.stdout).toMatch(/TypeError: late boom\n\s+at /);
  }, 60_000);

  it("leaves no worker process behind when the runner is killed with -9 mid-task", async () => {
    const { parent, dir } = project("spin");
    const run = startRun(parent);
    await until(() => existsSync(path.join(dir, "pid")), "the task to start");
    const pid = taskPid(dir);
    expect(alive(pid)).toBe(true);
    run.child.kill("SIGKILL");
    await run.exit;
    await until(() => !alive(pid), `worker process ${pid} to end`);
  }, 60_000);
});
