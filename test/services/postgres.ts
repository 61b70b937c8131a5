import { spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** A throwaway PostgreSQL server for one test file. */
export interface PostgresService {
  /** `postgres://postgres@127.0.0.1:PORT/dagwright_test` (trust auth, no password). */
  url: string;
  /** Stops the server (fast shutdown) and deletes its data directory. Idempotent. */
  stop: () => Promise<void>;
}

const ROOT = "/usr/lib/postgresql";
const DATABASE = "dagwright_test";
/** How long to wait for the binaries while a package install is still running. */
const BINARIES_WAIT_MS = 240_000;
const READY_WAIT_MS = 30_000;

/**
 * Starts a real PostgreSQL server on 127.0.0.1 (never any other address) on a random free port,
 * with its data directory and Unix socket in a fresh temp directory, and creates the database
 * `dagwright_test`.
 *
 * Binaries: `$DAGWRIGHT_TEST_PG_BIN` if set, else the newest `/usr/lib/postgresql/<major>/bin`
 * (Debian's `postgresql` package), waiting up to 4 minutes for them to appear. PostgreSQL refuses
 * to run as root, so under uid 0 the binaries run as the `postgres` user via `runuser` and the temp
 * directory is handed to that user.
 *
 * Throws when the binaries never appear or the server does not accept connections within 30 s
 * (the error carries the server log).
 */
export async function startPostgres(): Promise<PostgresService> {
  const bin = await findBinaries();
  const asRoot = process.getuid?.() === 0;
  const runAs = asRoot ? postgresUser() : undefined;
  const dir = mkdtempSync(join(tmpdir(), "dagwright-pg-"));
  const data = join(dir, "data");
  try {
    if (runAs !== undefined) chownSync(dir, runAs.uid, runAs.gid);
    const init = spawnSync(
      ...command(runAs, join(bin, "initdb"), [
        "-D",
        data,
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
      ]),
      { encoding: "utf8" },
    );
    if (init.status !== 0)
      throw new Error(`initdb failed (exit ${init.status}):\n${init.stderr}${init.stdout}`);

    // A free port can be taken between probing and binding; try a few.
    let lastError: unknown;
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      try {
        return await launch(bin, runAs, dir, data, port);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(
  bin: string,
  runAs: { uid: number; gid: number } | undefined,
  dir: string,
  data: string,
  port: number,
): Promise<PostgresService> {
  const logLines: string[] = [];
  const child = spawn(
    ...command(runAs, join(bin, "postgres"), [
      "-D",
      data,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
    ]),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const collect = (chunk: Buffer): void => {
    logLines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    if (logLines.length > 200) logLines.splice(0, logLines.length - 200);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
  });

  // If the test process dies without calling stop(), do not leave a server behind.
  const killOnExit = (): void => {
    const pid = postmasterPid(data) ?? child.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  process.once("exit", killOnExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", killOnExit);
    if (running) {
      // SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
      const pid = postmasterPid(data) ?? child.pid;
      if (pid !== undefined) signal(pid, "SIGINT");
      const timer = setTimeout(() => {
        if (pid !== undefined) signal(pid, "SIGKILL");
        if (child.pid !== undefined) signal(child.pid, "SIGKILL");
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `postgres://postgres@127.0.0.1:${port}`;
  try {
    await waitUntilReady(`${url}/postgres`, () => running, logLines);
    const admin = new pg.Client({ connectionString: `${url}/postgres` });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    // Keep the directory: startPostgres removes it after the last attempt.
    stopped = true;
    process.removeListener("exit", killOnExit);
    if (running) {
      signal(postmasterPid(data) ?? child.pid ?? -1, "SIGKILL");
      if (child.pid !== undefined) signal(child.pid, "SIGKILL");
      await exited;
    }
    throw error;
  }
  return { url: `${url}/${DATABASE}`, stop };
}

async function waitUntilReady(
  url: string,
  running: () => boolean,
  log: readonly string[],
): Promise<void> {
  const deadline = Date.now() + READY_WAIT_MS;
  for (;;) {
    if (!running())
      throw new Error(`postgres exited during startup. Server log:\n${log.join("\n")}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
    }
    if (Date.now() > deadline)
      throw new Error(
        `postgres did not accept connections within ${READY_WAIT_MS / 1000} s. Server log:\n${log.join("\n")}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The bin directory holding initdb and postgres, waiting for an install in progress. */
async function findBinaries(): Promise<string> {
  const override = process.env.DAGWRIGHT_TEST_PG_BIN;
  if (override !== undefined && override !== "") {
    if (!existsSync(join(override, "postgres")))
      throw new Error(`DAGWRIGHT_TEST_PG_BIN=${override} has no postgres binary`);
    return override;
  }
  const deadline = Date.now() + BINARIES_WAIT_MS;
  for (;;) {
    const found = newestBinDir();
    if (found !== undefined) return found;
    if (Date.now() > deadline)
      throw new Error(
        `no PostgreSQL server binaries in ${ROOT}/*/bin (install the Debian "postgresql" package, or set DAGWRIGHT_TEST_PG_BIN)`,
      );
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function newestBinDir(): string | undefined {
  if (!existsSync(ROOT)) return undefined;
  const majors = readdirSync(ROOT)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const major of majors) {
    const bin = join(ROOT, major, "bin");
    if (existsSync(join(bin, "initdb")) && existsSync(join(bin, "postgres"))) return bin;
  }
  return undefined;
}

function postgresUser(): { uid: number; gid: number } {
  const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (id.status !== 0 || gid.status !== 0)
    throw new Error(
      `running as root (${userInfo().username}) but there is no "postgres" user to run PostgreSQL as`,
    );
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** argv for a binary, run as the postgres user when we are root (no shell involved). */
function command(
  runAs: { uid: number; gid: number } | undefined,
  file: string,
  args: string[],
): [string, string[]] {
  return runAs === undefined ? [file, args] : ["runuser", ["-u", "postgres", "--", file, ...args]];
}

function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (nothing listens there now). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("could not find a free port"));
      });
    });
  });
}
