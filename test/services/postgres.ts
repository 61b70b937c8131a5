import { spawn, spawnSync } from "node:child_process";
import {
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from "node:fs";
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
/** A loaded 2-core machine can take tens of seconds to run recovery and open the port. */
const READY_WAIT_MS = 120_000;
/** Tries with a fresh port each: the port can be taken between probing and binding. */
const LAUNCH_ATTEMPTS = 4;
const INITDB_ATTEMPTS = 2;

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
 * Reliable on a loaded machine: initdb is retried once, the server is started up to 4 times on a
 * new port each time, and it counts as ready only when a client connected over TCP and found this
 * server's own data directory there (not another test's server that took the port). The server
 * log goes to a file, never to a pipe this process could leave undrained while a test blocks.
 *
 * Throws when the binaries never appear or every start failed (the error carries the server log).
 * `options.nextPort` picks each attempt's port (tests of the retry); default: a free port.
 */
export async function startPostgres(
  options: { nextPort?: () => Promise<number> } = {},
): Promise<PostgresService> {
  const nextPort = options.nextPort ?? freePort;
  const bin = await findBinaries();
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  const dir = mkdtempSync(join(tmpdir(), "dagwright-pg-"));
  const data = join(dir, "data");
  const failures: string[] = [];
  try {
    if (runAs !== undefined) chownSync(dir, runAs.uid, runAs.gid);
    initDataDir(bin, runAs, data);
    for (let i = 0; i < LAUNCH_ATTEMPTS; i++) {
      try {
        return await launch(bin, runAs, dir, data, await nextPort());
      } catch (error) {
        failures.push(`attempt ${i + 1}: ${(error as Error).message}`);
      }
    }
    throw new Error(
      `PostgreSQL did not start in ${LAUNCH_ATTEMPTS} attempts:\n${failures.join("\n")}`,
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function initDataDir(bin: string, runAs: RunAs | undefined, data: string): void {
  let failure = "";
  for (let i = 0; i < INITDB_ATTEMPTS; i++) {
    rmSync(data, { recursive: true, force: true });
    const init = spawnSync(
      ...command(runAs, join(bin, "initdb"), [
        ...["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
      ]),
      { encoding: "utf8" },
    );
    if (init.status === 0) return;
    failure = `initdb failed (exit ${init.status ?? init.signal}):\n${init.stderr}${init.stdout}`;
  }
  throw new Error(failure);
}

type RunAs = { uid: number; gid: number };

async function launch(
  bin: string,
  runAs: RunAs | undefined,
  dir: string,
  data: string,
  port: number,
): Promise<PostgresService> {
  const logFile = join(dir, `server-${port}.log`);
  const log = openSync(logFile, "a");
  const child = spawn(
    ...command(runAs, join(bin, "postgres"), [
      ...["-D", data, "-p", String(port), "-k", dir],
      ...["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"],
      ...["-c", "full_page_writes=off", "-c", "max_connections=200"],
    ]),
    { stdio: ["ignore", log, log] },
  );
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const kill = async (): Promise<void> => {
    if (!running) return;
    signal(postmasterPid(data) ?? -1, "SIGKILL");
    if (child.pid !== undefined) signal(child.pid, "SIGKILL");
    await exited;
  };

  // If the test process dies without calling stop(), do not leave a server behind.
  const killOnExit = (): void => {
    signal(postmasterPid(data) ?? child.pid ?? -1, "SIGKILL");
  };
  process.once("exit", killOnExit);

  const url = `postgres://postgres@127.0.0.1:${port}`;
  try {
    await waitUntilReady(`${url}/postgres`, data, () => running, logFile);
    const admin = new pg.Client({ connectionString: `${url}/postgres` });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    // Keep the directory: startPostgres tries again in it, and removes it after the last attempt.
    process.removeListener("exit", killOnExit);
    await kill();
    throw error;
  }

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", killOnExit);
    if (running) {
      // SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
      signal(postmasterPid(data) ?? child.pid ?? -1, "SIGINT");
      const timer = setTimeout(() => void kill(), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `${url}/${DATABASE}`, stop };
}

/**
 * Resolves once `SELECT current_setting('data_directory')` over TCP names `data`: the protocol
 * answers, and it is our server. A server of another data directory on the port means the port
 * was taken between probing and binding; that attempt fails at once.
 */
async function waitUntilReady(
  url: string,
  data: string,
  running: () => boolean,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + READY_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    if (!running())
      throw new Error(`postgres exited during startup. Server log:\n${tail(logFile)}`);
    const found = await dataDirectoryAt(url);
    if (found !== undefined) {
      if (found === data || realpathOr(found) === realpathOr(data)) return;
      throw new Error(`another PostgreSQL server (data directory ${found}) answers at ${url}`);
    }
    if (Date.now() > deadline)
      throw new Error(
        `postgres did not accept connections within ${READY_WAIT_MS / 1000} s. Server log:\n${tail(logFile)}`,
      );
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** The data directory of the server answering at `url`, or undefined while none answers. */
async function dataDirectoryAt(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ d: string }>(
      "SELECT current_setting('data_directory') AS d",
    );
    return rows[0]?.d;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-60).join("\n");
  } catch {
    return "(no server log)";
  }
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
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

function postgresUser(): RunAs {
  const id = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (id.status !== 0 || gid.status !== 0)
    throw new Error(
      `running as root (${userInfo().username}) but there is no "postgres" user to run PostgreSQL as`,
    );
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** argv for a binary, run as the postgres user when we are root (no shell involved). */
function command(runAs: RunAs | undefined, file: string, args: string[]): [string, string[]] {
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
