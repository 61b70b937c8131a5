import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProcessRequest, runProcess } from "../../src/tasks/run-process.js";
import {
  resetSpawnHelper,
  spawnHelperInfo,
  startSpawnHelper,
} from "../../src/tasks/spawn-helper.js";
import { eventually, findProcesses, tempProject } from "./helpers.js";

const project = tempProject("run-process");
const isLinux = process.platform === "linux";
let logs = 0;

/** Runs `command args` with a fresh log holding a header line; returns the outcome and the log. */
async function run(
  command: string,
  args: string[],
  extra: Partial<ProcessRequest> = {},
): Promise<{ outcome: Awaited<ReturnType<typeof runProcess>>; log: string }> {
  const logPath = path.join(project.root, "logs", `p-${++logs}.log`);
  project.write(path.relative(project.root, logPath), "");
  const fd = openSync(logPath, "a+");
  writeSync(fd, "# header\n");
  try {
    const outcome = await runProcess({
      command,
      args,
      cwd: project.root,
      env: process.env,
      logFd: fd,
      logPath,
      killGraceMs: 200,
      ...extra,
    });
    return { outcome, log: readFileSync(logPath, "utf8") };
  } finally {
    closeSync(fd);
  }
}

/** The log's lines after the header. */
function output(log: string): string[] {
  const lines = log.split("\n");
  expect(lines[0]).toBe("# header");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(1);
}

describe.each([
  { how: "through the process launcher", helper: true },
  { how: "through Node's spawn", helper: false },
])("runProcess $how", ({ helper }) => {
  const saved = process.env.DAGWRIGHT_SPAWN_HELPER;
  beforeAll(async () => {
    if (helper) delete process.env.DAGWRIGHT_SPAWN_HELPER;
    else process.env.DAGWRIGHT_SPAWN_HELPER = "0";
    expect(await startSpawnHelper()).toBe(helper && isLinux);
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.DAGWRIGHT_SPAWN_HELPER;
    else process.env.DAGWRIGHT_SPAWN_HELPER = saved;
  });

  it.runIf(helper && isLinux)("is started by the launcher", async () => {
    const { outcome, log } = await run("sh", ["-c", "echo $PPID"]);
    expect(outcome).toMatchObject({ ended: "exited", exitCode: 0 });
    const info = spawnHelperInfo();
    expect(info.state).toBe("ready");
    expect(output(log)).toEqual([String(info.pid)]);
  });

  it.runIf(!helper)("is started by this process", async () => {
    const { log } = await run("sh", ["-c", "echo $PPID"]);
    expect(output(log)).toEqual([String(process.pid)]);
  });

  it("writes stdout and stderr to the log after the caller's header", async () => {
    const { outcome, log } = await run("sh", ["-c", "echo out; echo err >&2; echo again"]);
    expect(outcome).toMatchObject({ ended: "exited", exitCode: 0 });
    expect(log).toBe("# header\nout\nerr\nagain\n");
  });

  it("reports the exit code", async () => {
    const { outcome } = await run("sh", ["-c", "exit 7"]);
    expect(outcome).toMatchObject({ ended: "exited", exitCode: 7 });
    expect(outcome.signal).toBeUndefined();
  });

  it("reports the signal that killed the process", async () => {
    const { outcome } = await run("sh", ["-c", "kill -TERM $$"]);
    expect(outcome).toMatchObject({ ended: "exited", signal: "SIGTERM" });
    expect(outcome.exitCode).toBeUndefined();
  });

  it("passes argv without a shell", async () => {
    const { log } = await run("printf", ["%s|", "$HOME", "a b", "é€", ";"]);
    expect(log).toBe("# header\n$HOME|a b|é€|;|");
  });

  it("passes exactly the given environment", async () => {
    const env = { PATH: process.env.PATH, ONE: "1", SPACED: "a b", EMPTY: "", UNI: "é€" };
    const { outcome, log } = await run("env", [], { env });
    expect(outcome.exitCode).toBe(0);
    expect(output(log).sort()).toEqual(
      [`PATH=${process.env.PATH}`, "ONE=1", "SPACED=a b", "EMPTY=", "UNI=é€"].sort(),
    );
  });

  it("leaves out a variable removed from the environment", async () => {
    process.env.DAGWRIGHT_TEST_REMOVED = "x";
    const env = { ...process.env };
    delete env.DAGWRIGHT_TEST_REMOVED;
    const { log } = await run("sh", ["-c", 'echo "${DAGWRIGHT_TEST_REMOVED-absent} $ONE"'], {
      env: { ...env, ONE: "1" },
    });
    delete process.env.DAGWRIGHT_TEST_REMOVED;
    expect(output(log)).toEqual(["absent 1"]);
  });

  it("looks the command up on the PATH of the given environment", async () => {
    project.write("bin/only-here", "#!/bin/sh\necho found $0\n");
    project.write("bin/no-hashbang", "echo run by sh\n");
    await run("chmod", ["+x", "bin/only-here", "bin/no-hashbang"]);
    const bin = path.join(project.root, "bin");
    const found = await run("only-here", [], { env: { PATH: `/nowhere:${bin}` } });
    expect(output(found.log)).toEqual([`found ${bin}/only-here`]);
    const script = await run("no-hashbang", [], { env: { PATH: bin } });
    expect(script.outcome.exitCode).toBe(0);
    expect(output(script.log)).toEqual(["run by sh"]);
  });

  it("runs in the given working directory", async () => {
    const { log } = await run("pwd", [], { cwd: path.join(project.root, "logs") });
    expect(output(log)).toEqual([path.join(project.root, "logs")]);
  });

  it("says when the program is not on PATH", async () => {
    const { outcome } = await run("no-such-program-dagwright", []);
    expect(outcome).toEqual({
      ended: "not-started",
      error: "cannot start no-such-program-dagwright: not found on PATH",
    });
  });

  it("says when a program path does not exist", async () => {
    const { outcome } = await run("/no/such/dagwright", []);
    expect(outcome).toEqual({
      ended: "not-started",
      error: "cannot start /no/such/dagwright: no such file",
    });
  });

  it("says when the program may not be executed", async () => {
    const file = project.write("not-executable", "echo hi\n");
    const { outcome } = await run(file, []);
    expect(outcome).toEqual({
      ended: "not-started",
      error: `cannot start ${file}: permission denied`,
    });
  });

  it("says when the working directory does not exist", async () => {
    const cwd = path.join(project.root, "no-such-dir");
    const { outcome } = await run("true", [], { cwd });
    expect(outcome).toEqual({
      ended: "not-started",
      error: `working directory ${cwd} does not exist`,
    });
  });

  it.runIf(helper && isLinux)("says when the log cannot be opened by path", async () => {
    const logPath = path.join(project.root, "no-such-dir", "x.log");
    const { outcome } = await run("true", [], { logPath });
    expect(outcome).toEqual({
      ended: "not-started",
      error: `cannot open log ${logPath}: No such file or directory`,
    });
  });

  it("starts each process as the leader of its own session and process group", async () => {
    const { log } = await run("sh", ["-c", "echo $$; cut -d' ' -f5,6 /proc/$$/stat"]);
    const [pid, ids] = output(log);
    expect(ids).toBe(`${pid} ${pid}`);
  });

  it("gives the process default signal dispositions and an empty signal mask", async () => {
    // The launcher ignores SIGINT, SIGTERM, SIGHUP, SIGQUIT (and Python SIGPIPE, SIGXFSZ).
    const { log } = await run("grep", ["-E", "^Sig(Ign|Blk)", "/proc/self/status"]);
    const masks = Object.fromEntries(output(log).map((l) => l.split(/:\s+/)));
    expect(BigInt(`0x${masks.SigBlk}`)).toBe(0n);
    // Signals 1-31; glibc's posix_spawn leaves its two internal realtime signals ignored.
    expect(BigInt(`0x${masks.SigIgn}`) & 0x7fffffffn).toBe(0n);
  });

  it("reports peak memory and CPU time", async () => {
    const { outcome } = await run("python3", [
      "-c",
      "import time\nb = b'x' * (50 << 20)\nt = time.process_time()\n" +
        "while time.process_time() - t < 0.3: pass\ntime.sleep(0.3)",
    ]);
    expect(outcome.exitCode).toBe(0);
    expect(outcome.peakRssKb).toBeGreaterThanOrEqual(40_000);
    expect(outcome.peakRssKb).toBeLessThan(200_000);
    expect(outcome.cpuMs).toBeGreaterThanOrEqual(250);
    expect(outcome.cpuMs).toBeLessThan(5_000);
  });

  it.runIf(helper)("reports the peak memory of a short process", async () => {
    const { outcome } = await run("python3", ["-c", "b = b'x' * (50 << 20)"]);
    expect(outcome.peakRssKb).toBeGreaterThanOrEqual(40_000);
    expect(outcome.peakRssKb).toBeLessThan(200_000);
  });

  it("kills the whole process group on timeout, grandchildren included", async () => {
    const started = Date.now();
    const { outcome } = await run("sh", ["-c", "sleep 123.61 & sleep 123.61"], {
      timeoutSeconds: 0.4,
    });
    expect(outcome.ended).toBe("timeout");
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(await eventually(() => findProcesses(["sleep", "123.61"]).length === 0, 500)).toBe(true);
  });

  it("sends SIGKILL after the grace period to processes that ignore SIGTERM", async () => {
    const started = Date.now();
    const { outcome } = await run("sh", ["-c", "trap '' TERM; sleep 123.62 & sleep 123.62"], {
      timeoutSeconds: 0.3,
      killGraceMs: 300,
    });
    expect(outcome.ended).toBe("timeout");
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    expect(await eventually(() => findProcesses(["sleep", "123.62"]).length === 0, 500)).toBe(true);
  });

  it("cancels through the AbortSignal, killing the group", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const { outcome } = await run("sh", ["-c", "sleep 123.63 & sleep 123.63"], {
      signal: controller.signal,
    });
    expect(outcome.ended).toBe("cancelled");
    expect(await eventually(() => findProcesses(["sleep", "123.63"]).length === 0, 500)).toBe(true);
  });

  it("cancels a process whose start is not confirmed yet", async () => {
    const controller = new AbortController();
    const pending = run("sh", ["-c", "sleep 123.64 & sleep 123.64"], {
      signal: controller.signal,
    });
    controller.abort();
    expect((await pending).outcome.ended).toBe("cancelled");
    expect(await eventually(() => findProcesses(["sleep", "123.64"]).length === 0, 500)).toBe(true);
  });

  it("does not start a process whose signal is already aborted", async () => {
    const { outcome } = await run("touch", ["ran"], { signal: AbortSignal.abort() });
    expect(outcome).toEqual({ ended: "cancelled" });
    expect(existsSync(path.join(project.root, "ran"))).toBe(false);
  });

  it("stops what a finished process left running in its group", async () => {
    const { outcome } = await run("sh", ["-c", "sleep 123.65 & echo started"]);
    expect(outcome).toMatchObject({ ended: "exited", exitCode: 0 });
    expect(await eventually(() => findProcesses(["sleep", "123.65"]).length === 0, 1000)).toBe(
      true,
    );
  });

  it("runs 200 processes, 4 at once", async () => {
    let next = 0;
    const outcomes: Awaited<ReturnType<typeof runProcess>>[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < 200) {
          next++;
          outcomes.push((await run("true", [])).outcome);
        }
      }),
    );
    expect(outcomes).toHaveLength(200);
    for (const o of outcomes) expect(o).toMatchObject({ ended: "exited", exitCode: 0 });
  });
});

describe.runIf(isLinux)("when the process launcher fails", () => {
  const saved = { helper: process.env.DAGWRIGHT_SPAWN_HELPER, py: process.env.DAGWRIGHT_PYTHON };
  beforeAll(() => {
    delete process.env.DAGWRIGHT_SPAWN_HELPER;
  });
  afterAll(() => {
    for (const [name, value] of [
      ["DAGWRIGHT_SPAWN_HELPER", saved.helper],
      ["DAGWRIGHT_PYTHON", saved.py],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    resetSpawnHelper();
  });

  it("stops and fails the processes it started, and later ones start with Node's spawn", async () => {
    expect(await startSpawnHelper()).toBe(true);
    const launcher = spawnHelperInfo().pid!;
    expect(launcher).toBeGreaterThan(0);
    const pending = run("sh", ["-c", "sleep 123.66 & sleep 123.66"], { killGraceMs: 300 });
    expect(await eventually(() => findProcesses(["sleep", "123.66"]).length === 2)).toBe(true);
    process.kill(launcher, "SIGKILL");
    const { outcome } = await pending;
    expect(outcome.ended).toBe("lost");
    expect(outcome.error).toMatch(
      /^process launcher \(\S*python3 runtime\/dagwright_spawn\.py\) exited: killed by SIGKILL$/,
    );
    expect(await eventually(() => findProcesses(["sleep", "123.66"]).length === 0, 500)).toBe(true);
    expect(spawnHelperInfo()).toMatchObject({ state: "failed", reason: outcome.error });

    const after = await run("sh", ["-c", "echo $PPID"]);
    expect(after.outcome).toMatchObject({ ended: "exited", exitCode: 0 });
    expect(output(after.log)).toEqual([String(process.pid)]);
  });

  it("uses Node's spawn while the launcher starts, and for good when python3 is missing", async () => {
    resetSpawnHelper();
    process.env.DAGWRIGHT_PYTHON = path.join(project.root, "no-such-python");
    const results = await Promise.all([
      run("sh", ["-c", "echo $PPID"]),
      run("sh", ["-c", "echo $PPID; exit 4"]),
    ]);
    expect(results.map((r) => r.outcome.exitCode)).toEqual([0, 4]);
    for (const r of results) expect(output(r.log)).toEqual([String(process.pid)]);
    expect(await startSpawnHelper()).toBe(false);
    expect(spawnHelperInfo()).toEqual({
      state: "failed",
      reason: `process launcher (${process.env.DAGWRIGHT_PYTHON} runtime/dagwright_spawn.py) exited: cannot start ${process.env.DAGWRIGHT_PYTHON}: not found`,
    });
    const later = await run("sh", ["-c", "echo $PPID"]);
    expect(output(later.log)).toEqual([String(process.pid)]);
  });

  it("uses Node's spawn when the launcher exits before it is ready", async () => {
    resetSpawnHelper();
    process.env.DAGWRIGHT_PYTHON = "false";
    expect(await startSpawnHelper()).toBe(false);
    const { outcome, log } = await run("sh", ["-c", "echo $PPID"]);
    expect(outcome).toMatchObject({ ended: "exited", exitCode: 0 });
    expect(output(log)).toEqual([String(process.pid)]);
    expect(spawnHelperInfo().reason).toBe(
      "process launcher (false runtime/dagwright_spawn.py) exited: exit code 1",
    );
  });

  it("is used again once reset", async () => {
    resetSpawnHelper();
    delete process.env.DAGWRIGHT_PYTHON;
    expect(await startSpawnHelper()).toBe(true);
    const { log } = await run("sh", ["-c", "echo $PPID"]);
    expect(output(log)).toEqual([String(spawnHelperInfo().pid)]);
  });
});
