import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";
import { hasRedisServer, type RedisService, startRedis } from "../services/redis.js";
import { startRun, startWorker, type WorkerProcess, waitFor } from "./bullmq-service.js";

/** `config.machine_types` declaring each queue (a small machine, so any worker fits it). */
function machineTypes(...queues: string[]): string {
  return `config:\n  machine_types:\n${queues.map((q) => `    ${q}: {cpu: 1, memory: 64}\n`).join("")}`;
}

/** A one-task spec whose task runs on `queue` (its machine_type) and takes `seconds`. */
function slowSpec(queue: string, seconds: number, extra = ""): string {
  const where = queue === "dagwright" ? "" : `    machine_type: ${queue}\n`;
  return `${queue === "dagwright" ? "" : machineTypes(queue)}graphs:
  g:
    tasks:
      slow:
${extra}
tasks:
  slow:
    command: ["sh", "-c", "echo x >> starts.txt; sleep ${seconds}; mkdir -p out; echo ok > out/slow.txt"]
    outputs: [out/slow.txt]
${where}`;
}

const lines = (dir: string, file: string): string[] =>
  existsSync(path.join(dir, file))
    ? readFileSync(path.join(dir, file), "utf8").trim().split("\n")
    : [];

/** Short stall detection, so a dead worker's job is redelivered within a second or two. */
const FAST_STALL = ["--lock-duration-ms", "1000", "--stalled-interval-ms", "300"];

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 1));
    });
  });
}

describe("dagwright run --executor bullmq: Redis unreachable", () => {
  it("exits 3 naming the address, with a hint and no stack trace", async () => {
    const port = await closedPort();
    const dir = makeProject({ "dagwright.yaml": slowSpec("dagwright", 0) });
    const r = runCli(["run", "--executor", "bullmq", "--redis", `redis://127.0.0.1:${port}`], dir);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: cannot reach Redis at 127.0.0.1:${port} (ECONNREFUSED)`);
    expect(r.stderr).toContain("hint: start Redis there (redis-server)");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(dir, "starts.txt"))).toBe(false);
  });

  it("exits 2 when --executor bullmq has no --redis", () => {
    const dir = makeProject({ "dagwright.yaml": slowSpec("dagwright", 0) });
    const r = runCli(["run", "--executor", "bullmq"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--executor bullmq needs --redis URL");
  });
});

describe.skipIf(!hasRedisServer())("dagwright run --executor bullmq: faults", () => {
  let redis: RedisService;
  const started: WorkerProcess[] = [];
  const worker = async (args: string[]) => {
    const w = await startWorker(redis, args);
    started.push(w);
    return w;
  };
  const bullmq = () => ["--executor", "bullmq", "--redis", redis.url];

  beforeAll(async () => {
    redis = await startRedis();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(started.map((w) => w.stop()));
    await redis.stop();
  }, 60_000);

  it("warns at start when Redis may evict queued jobs (maxmemory-policy not noeviction)", async () => {
    execFileSync("redis-cli", [
      "-u",
      redis.url,
      "CONFIG",
      "SET",
      "maxmemory-policy",
      "allkeys-lru",
    ]);
    try {
      await worker(["--queue", "evict"]);
      const dir = makeProject({ "dagwright.yaml": slowSpec("evict", 0) });
      const r = runCli(["run", ...bullmq()], dir);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(
        `warning: Redis at 127.0.0.1:${redis.port} has maxmemory-policy allkeys-lru: it may evict queued jobs`,
      );
    } finally {
      execFileSync("redis-cli", [
        "-u",
        redis.url,
        "CONFIG",
        "SET",
        "maxmemory-policy",
        "noeviction",
      ]);
    }
  }, 60_000);

  it("warns naming a queue that has no worker, and finishes once one starts on it", async () => {
    const dir = makeProject({ "dagwright.yaml": slowSpec("gpu", 0) });
    const run = startRun(dir, bullmq(), { DAGWRIGHT_NO_WORKER_WARNING_SECONDS: "0.5" });
    await waitFor("the no-worker warning", () => run.stderr().includes('queue "gpu"'));
    expect(run.stderr()).toContain(
      `warning: queue "gpu" has had no worker for 0.5 s; its tasks wait until one starts: dagwright worker --redis ${redis.url} --queue gpu`,
    );
    expect(existsSync(path.join(dir, "starts.txt"))).toBe(false);
    const w = await worker(["--queue", "gpu"]);
    expect(await run.exited).toBe(0);
    expect(lines(dir, "out/slow.txt")).toEqual(["ok"]);
    // The progress view says which worker runs the task.
    expect(run.stderr()).toContain(`▶ slow on ${os.hostname()}:${w.child.pid}: never ran`);
  }, 90_000);

  it("redelivers the job of a worker killed with -9 mid-task, and the run completes", async () => {
    const first = await worker(["--queue", "crash", ...FAST_STALL]);
    const dir = makeProject({ "dagwright.yaml": slowSpec("crash", 2) });
    const run = startRun(dir, bullmq());
    await waitFor("the task to start", () => lines(dir, "starts.txt").length === 1);
    first.child.kill("SIGKILL");
    await worker(["--queue", "crash", ...FAST_STALL]);
    expect(await run.exited).toBe(0);
    expect(lines(dir, "starts.txt")).toHaveLength(2);
    expect(lines(dir, "out/slow.txt")).toEqual(["ok"]);
    expect(runCli(["run", ...bullmq(), "--json"], dir).stdout).not.toContain('"task-start"');
  }, 90_000);

  it("a worker stopped with SIGTERM finishes its running task first, then exits 0", async () => {
    const w = await worker(["--queue", "drain"]);
    const dir = makeProject({ "dagwright.yaml": slowSpec("drain", 1) });
    const run = startRun(dir, bullmq());
    await waitFor("the task to start", () => lines(dir, "starts.txt").length === 1);
    const exited = new Promise<number | null>((r) => w.child.once("exit", (code) => r(code)));
    w.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(await exited).toBe(0);
    expect(lines(dir, "out/slow.txt")).toEqual(["ok"]);
    expect(w.log()).toContain("stopping: finishing running jobs");
    expect(lines(dir, "starts.txt")).toHaveLength(1);
  }, 90_000);

  it("after a coordinator killed with -9, `run` again adopts the queued job: the task runs once", async () => {
    await worker(["--queue", "resume"]);
    const spec = slowSpec("resume", 2, "      after: slow").replace(
      "tasks:\n  slow:",
      'tasks:\n  after:\n    command: ["sh", "-c", "echo y >> after.txt"]\n    machine_type: resume\n  slow:',
    );
    const dir = makeProject({ "dagwright.yaml": spec });
    const first = startRun(dir, bullmq());
    await waitFor("the task to start", () => lines(dir, "starts.txt").length === 1);
    first.child.kill("SIGKILL");
    await first.exited;
    const again = startRun(dir, bullmq());
    expect(await again.exited).toBe(0);
    expect(lines(dir, "starts.txt")).toHaveLength(1);
    expect(lines(dir, "after.txt")).toEqual(["y"]);
  }, 90_000);

  it("Ctrl-C on the coordinator removes its queued jobs and cancels its running ones", async () => {
    await worker(["--queue", "busy"]);
    const secs = (60 + Math.random()).toFixed(6);
    const spec = `${machineTypes("busy", "idle")}graphs:
  g:
    tasks:
      running:
      queued:
tasks:
  running:
    command: "echo x >> starts.txt; sleep ${secs}"
    machine_type: busy
  queued:
    command: "echo y >> queued.txt"
    machine_type: idle
`;
    const dir = makeProject({ "dagwright.yaml": spec });
    const run = startRun(dir, [...bullmq(), "--json"]);
    await waitFor("the task to start", () => lines(dir, "starts.txt").length === 1);
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(130);
    const events = run.stdout();
    expect(events).toContain('"type":"task-cancelled","task":"running"');
    expect(events).toContain('"type":"task-skipped","task":"queued","reason":"run cancelled"');
    expect(execFileSync("ps", ["-eo", "args"]).toString()).not.toContain(`sleep ${secs}`);
    // The queued job is gone from Redis: no worker that starts later can run it.
    const redisCli = (...args: string[]) =>
      execFileSync("redis-cli", ["-u", redis.url, ...args])
        .toString()
        .trim();
    expect(redisCli("--scan", "--pattern", "dagwright:idle:dw-*")).toBe("");
    expect(redisCli("LLEN", "dagwright:idle:wait")).toBe("0");
    expect(existsSync(path.join(dir, "queued.txt"))).toBe(false);
  }, 90_000);
});

describe.skipIf(!hasRedisServer())("dagwright run --executor bullmq: Redis restarts", () => {
  it("a worker whose Redis is gone still stops on SIGTERM, exit 0", async () => {
    const redis = await startRedis();
    const w = await startWorker(redis, []);
    const exited = new Promise<number | null>((r) => w.child.once("exit", (code) => r(code)));
    try {
      await redis.halt();
      w.child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(w.log()).toContain("stopped");
    } finally {
      await w.stop();
      await redis.stop();
    }
  }, 60_000);

  it("workers and the coordinator reconnect to a Redis restarted with AOF, and the run finishes", async () => {
    const redis = await startRedis({ appendonly: true });
    const w = await startWorker(redis, []);
    try {
      const dir = makeProject({ "dagwright.yaml": slowSpec("dagwright", 2) });
      const run = startRun(dir, ["--executor", "bullmq", "--redis", redis.url]);
      await waitFor("the task to start", () => lines(dir, "starts.txt").length === 1);
      await redis.halt();
      await redis.start();
      expect(await run.exited).toBe(0);
      expect(lines(dir, "out/slow.txt")).toEqual(["ok"]);
      expect(lines(dir, "starts.txt")).toHaveLength(1);
    } finally {
      await w.stop();
      await redis.stop();
    }
  }, 120_000);
});
