import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN } from "../helpers.js";
import { type RedisService, startRedis } from "../services/redis.js";

/** A `dagwright worker` child process of the test. */
export interface WorkerProcess {
  child: ChildProcess;
  /** What it wrote to stderr so far (its job lines). */
  log(): string;
  /** SIGTERM, and resolves when it exited (SIGKILL after 20 s). */
  stop(): Promise<void>;
}

/**
 * Starts `node bin/dagwright.cjs worker --redis URL ...args` with `env` over this process's, its
 * output in a file (never a pipe a blocked test could leave undrained). Resolves once it said it
 * is waiting for jobs.
 */
export async function startWorker(
  redis: RedisService,
  args: string[] = [],
  env: Record<string, string> = {},
  cwd = tmpdir(),
): Promise<WorkerProcess> {
  const logFile = join(mkdtempSync(join(tmpdir(), "dagwright-worker-")), "worker.log");
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, [BIN, "worker", "--redis", redis.url, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", DAGWRIGHT_RETRY_BACKOFF_MS: "10", ...env },
    stdio: ["ignore", fd, fd],
  });
  const log = () => readFileSync(logFile, "utf8");
  const deadline = Date.now() + 60_000;
  while (!log().includes("waiting for jobs")) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`dagwright worker did not start:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  return {
    child,
    log,
    stop: async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export { startRedis };
