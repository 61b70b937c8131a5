import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/state/sqlite-store.js";
import { BIN, makeProject, runCli, runCliAsync } from "../helpers.js";

const SPEC = `graphs:
  g: {tasks: {quick: , slow: quick}}
tasks:
  quick:
    command: [sh, -c, "echo q > q.txt"]
    outputs: [q.txt]
  slow:
    command: [sh, -c, "while [ ! -f go ]; do sleep 0.02; done; echo s > s.txt"]
    outputs: [s.txt]
`;

interface StatusJson {
  tasks: {
    task: string;
    state: string;
    running?: { worker: string | null; attemptId: number; startedAt: string; gone?: true };
  }[];
}

/** Runs `status` until `done` accepts its result (the run being watched is a child process). */
async function statusUntil<T>(
  dir: string,
  args: string[],
  running: () => boolean,
  done: (stdout: string) => T | undefined,
): Promise<T> {
  for (;;) {
    if (!running()) throw new Error("the run ended before status showed what was expected");
    const r = await runCliAsync(["status", ...args], dir);
    const got = r.code === 0 ? done(r.stdout) : undefined;
    if (got !== undefined) return got;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("dagwright status while a run is in progress", () => {
  it("shows the running task with the host:pid of the runner and when it started", async () => {
    const dir = makeProject({ "dagwright.yaml": SPEC });
    const runner = spawn(process.execPath, [BIN, "run"], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: "ignore",
    });
    let alive = true;
    const exited = new Promise<number | null>((resolve) =>
      runner.on("exit", (code) => {
        alive = false;
        resolve(code);
      }),
    );
    try {
      const worker = `${hostname()}:${runner.pid}`;
      // The runner writes the begin once the task has run 100 ms; status shows it from then on.
      const slow = await statusUntil(
        dir,
        ["--json"],
        () => alive,
        (stdout) => {
          const row = (JSON.parse(stdout) as StatusJson).tasks.find((t) => t.task === "slow");
          return row?.running ? row : undefined;
        },
      );
      expect(slow).toMatchObject({
        state: "running",
        running: { worker, attemptId: expect.any(Number) },
      });
      expect(Number.isNaN(Date.parse(slow.running!.startedAt))).toBe(false);
      const quick = runCli(["status", "--json"], dir);
      const rows = (JSON.parse(quick.stdout) as StatusJson).tasks;
      expect(rows.find((t) => t.task === "quick")).toMatchObject({ state: "fresh" });
      expect(rows.find((t) => t.task === "quick")).not.toHaveProperty("running");

      const text = runCli(["status"], dir);
      expect(text.code).toBe(0);
      const line = text.stdout.split("\n").find((l) => l.trim().startsWith("slow"));
      expect(line).toMatch(
        new RegExp(
          `^\\s+slow\\s+running\\s+on ${escapeRegExp(worker)} since \\d\\d:\\d\\d:\\d\\d$`,
        ),
      );
    } finally {
      writeFileSync(path.join(dir, "go"), "");
    }
    expect(await exited).toBe(0);
    expect(existsSync(path.join(dir, "s.txt"))).toBe(true);
    const after = (JSON.parse(runCli(["status", "--json"], dir).stdout) as StatusJson).tasks;
    expect(after.find((t) => t.task === "slow")).toMatchObject({ state: "fresh" });
    expect(after.find((t) => t.task === "slow")).not.toHaveProperty("running");
  }, 60_000);

  it("says so when the process recorded as running a task is gone (its run was killed)", async () => {
    const dir = makeProject({ "dagwright.yaml": SPEC });
    const dead = spawn(process.execPath, ["-e", "0"]);
    const pid = await new Promise<number>((resolve) => dead.on("exit", () => resolve(dead.pid!)));
    const store = openSqliteStore(path.join(dir, ".dagwright", "state.db"));
    const runId = await store.beginRun({
      namespace: "g@main",
      graph: "g",
      branch: "main",
      command: "dagwright run",
    });
    await store.writeAttempts([
      {
        kind: "begin",
        attempt: {
          runId,
          namespace: "g@main",
          task: "slow",
          fingerprint: "f",
          parts: {},
          worker: `${hostname()}:${pid}`,
        },
      },
    ]);
    await store.close();
    const json = JSON.parse(runCli(["status", "--json"], dir).stdout) as StatusJson;
    expect(json.tasks.find((t) => t.task === "slow")).toMatchObject({
      state: "running",
      running: { worker: `${hostname()}:${pid}`, gone: true },
    });
    const line = runCli(["status"], dir)
      .stdout.split("\n")
      .find((l) => l.trim().startsWith("slow"));
    expect(line).toMatch(/since \d\d:\d\d:\d\d \(that process is gone: interrupted\)$/);
  });
});
