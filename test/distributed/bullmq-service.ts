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

/** A `dagwright run` child process of the test. */
export interface RunProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (-1 when killed by a signal). */
  exited: Promise<number>;
}

/** Starts `node bin/dagwright.cjs run ...args` in `cwd`, without waiting for it. */
export function startRun(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): RunProcess {
  const child = spawn(process.execPath, [BIN, "run", ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Polls `check` every 50 ms until it holds; throws with `what` after `ms`. */
export async function waitFor(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
