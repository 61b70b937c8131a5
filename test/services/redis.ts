import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A throwaway Redis server for one test file. */
export interface RedisService {
  /** `redis://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL) and keeps its directory (for `start`). */
  halt: () => Promise<void>;
  /** Starts it again on the same port and directory (with AOF on, the data comes back). */
  start: () => Promise<void>;
  /** Stops the server and deletes its directory. Idempotent. */
  stop: () => Promise<void>;
}

/** How long a loaded machine may take to open the port. */
const READY_WAIT_MS = 30_000;

/** Whether `redis-server` is on PATH (CI installs the Debian package; see .ci/run). */
export function hasRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/**
 * Starts a real `redis-server` on 127.0.0.1 (never any other address) on a free port, with its
 * files in a fresh temp directory, no RDB snapshots, and AOF when `appendonly` (so a restart keeps
 * the queues). Ready only once it answered PING with PONG over TCP. The server's output goes to a
 * file in its directory, never to a pipe a blocked test could leave undrained.
 *
 * @throws when the server never answers (the error carries its log's path).
 */
export async function startRedis(options: { appendonly?: boolean } = {}): Promise<RedisService> {
  const dir = mkdtempSync(join(tmpdir(), "dagwright-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--save", ""];
    args.push("--appendonly", options.appendonly ? "yes" : "no", "--logfile", "redis.log");
    args.push("--daemonize", "no", "--protected-mode", "yes");
    child = spawn("redis-server", args, { stdio: "ignore" });
    await waitForPong(port, join(dir, "redis.log"));
  };
  const halt = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    halt,
    start,
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPong(port: number, log: string): Promise<void> {
  const deadline = Date.now() + READY_WAIT_MS;
  while (Date.now() < deadline) {
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on 127.0.0.1:${port} never answered PING (log: ${log})`);
}

/** One PING over the Redis protocol: true when the answer is +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let answer = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      answer += d.toString("latin1");
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"));
    });
  });
}
