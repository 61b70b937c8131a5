import { type ChildProcessByStdio, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../runtime/dagwright_spawn.py", import.meta.url));
// The launcher's stderr kept for the message when it dies.
const STDERR_KEEP = 2048;

/** One process for the launcher to start; see {@link spawnViaHelper}. */
export interface HelperRequest {
  command: string;
  args: readonly string[];
  /** Absolute. */
  cwd: string;
  /** The child's whole environment (undefined values are left out). */
  env: NodeJS.ProcessEnv;
  /** Absolute; opened by the child for append as its stdout and stderr. */
  logPath: string;
}

/** How a process started by the launcher ended, from wait4. */
export interface HelperExit {
  exitCode?: number;
  signal?: string;
  /**
   * ru_maxrss: the process's peak RSS, or that of a child it waited for. Left out when it is not
   * above the launcher's own peak, which the kernel counts in for every vfork-started process.
   */
  peakRssKb?: number;
  /** User + system CPU time of the process and the children it waited for. */
  cpuMs: number;
}

/** What becomes of one request: `started` then `exited` or `lost`, or only `failed` or `lost`. */
export interface HelperHandlers {
  /** The process runs as `pid`, leader of its own session and process group. */
  started(pid: number): void;
  /** It could not start: `err.code` is the errno name (ENOENT, EACCES, …); `err.step` what failed. */
  failed(err: NodeJS.ErrnoException & { step: "cwd" | "exec" | "log" }): void;
  /** It ended and was reaped. */
  exited(exit: HelperExit): void;
  /**
   * The launcher died after it may have acted on the request: the process, started or not, is no
   * longer watched. `message` names the launcher and why it ended.
   */
  lost(message: string): void;
}

/** Where the launcher stands in this process, for tests and diagnostics. */
export interface HelperInfo {
  state: "disabled" | "idle" | "starting" | "ready" | "failed";
  pid?: number;
  /** Why it failed (`state: "failed"`). */
  reason?: string;
}

type HelperChild = ChildProcessByStdio<Writable, Readable, Readable>;

/**
 * The long-lived launcher process (runtime/dagwright_spawn.py), which starts processes with
 * posix_spawn (vfork) instead of Node's fork of the whole Node process: ~2 ms of main-thread time
 * saved per process. It never keeps this process alive on its own: its handle and pipes are
 * unref'd, except the reply pipe while a process it started is running.
 */

/**
 * The interpreter for the launcher, which needs nothing but the standard library: the system's
 * `/usr/bin/python3` when there is one (it starts in ~10 ms; a `python3` found on PATH may be a
 * version-manager shim, e.g. pyenv's, that takes ~80 ms), else `python3` on PATH.
 */
function launcherPython(): string {
  return existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

class SpawnHelper {
  readonly python: string;
  private readonly child: HelperChild;
  private readonly entries = new Map<number, HelperHandlers>();
  private nextId = 1;
  private ready = false;
  private readonly whenReady: Promise<boolean>;
  private settleReady: (ready: boolean) => void = () => {};
  private dead = false;
  private buffered = "";
  private stderrTail = "";
  private refd = false;

  constructor(private readonly onDeath: (reason: string) => void) {
    this.python = process.env.DAGWRIGHT_PYTHON || launcherPython();
    this.whenReady = new Promise((resolve) => {
      this.settleReady = resolve;
    });
    // -I: no PYTHON* variables, user site or script folder on sys.path; -S: no site import.
    this.child = spawn(this.python, ["-I", "-S", SCRIPT], {
      stdio: ["pipe", "pipe", "pipe"],
      env: process.env,
    });
    const { child } = this;
    child.unref();
    unrefStream(child.stdin);
    unrefStream(child.stderr);
    unrefStream(child.stdout);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text: string) => this.onData(text));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_KEEP);
    });
    // A write after the launcher died fails with EPIPE; its death is handled on "close".
    child.stdin.on("error", () => {});
    child.on("error", (err) => this.die(startFailure(this.python, err)));
    child.on("close", (code, sig) =>
      this.die(sig !== null ? `killed by ${sig}` : `exit code ${code}`),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** True once the launcher reads requests; false if it died first. Keeps this process alive. */
  untilReady(): Promise<boolean> {
    if (!this.ready && !this.dead) this.setRef(true);
    return this.whenReady;
  }

  /** Only once {@link isReady}: nothing is sent to a launcher that may yet fail to start. */
  spawn(req: HelperRequest, handlers: HelperHandlers): void {
    const id = this.nextId++;
    this.entries.set(id, handlers);
    this.setRef(true);
    this.child.stdin.write(
      `${JSON.stringify({
        id,
        cmd: req.command,
        args: req.args,
        cwd: req.cwd,
        env: req.env,
        log: req.logPath,
      })}\n`,
    );
  }

  /** While a request is open, the reply pipe keeps this process alive (as a child's handle would). */
  private setRef(on: boolean): void {
    if (on === this.refd) return;
    this.refd = on;
    const out = this.child.stdout as Readable & { ref?: () => void; unref?: () => void };
    if (on) out.ref?.();
    else out.unref?.();
  }

  private onData(text: string): void {
    const lines = (this.buffered + text).split("\n");
    this.buffered = lines.pop() ?? "";
    for (const line of lines) this.onLine(line);
    if (this.entries.size === 0) this.setRef(false);
  }

  private onLine(line: string): void {
    const words = line.split(" ");
    if (words[0] === "R") {
      this.ready = true;
      this.settleReady(true);
      return;
    }
    const id = Number(words[1]);
    const handlers = this.entries.get(id);
    if (handlers === undefined) return;
    switch (words[0]) {
      case "S":
        handlers.started(Number(words[2]));
        return;
      case "F": {
        this.entries.delete(id);
        const code = words[2] ?? "EIO";
        const err = Object.assign(new Error(words.slice(4).join(" ") || code), {
          code,
          step: (words[3] === "cwd" || words[3] === "log" ? words[3] : "exec") as
            | "cwd"
            | "exec"
            | "log",
        });
        handlers.failed(err);
        return;
      }
      case "E": {
        this.entries.delete(id);
        const exit: HelperExit = { cpuMs: Number(words[5]) };
        if (words[2] !== "-") exit.exitCode = Number(words[2]);
        if (words[3] !== "-") exit.signal = words[3];
        if (words[4] !== "-") exit.peakRssKb = Number(words[4]);
        handlers.exited(exit);
        return;
      }
    }
  }

  private die(why: string): void {
    if (this.dead) return;
    this.dead = true;
    this.setRef(false);
    const stderr = this.stderrTail.trim().split("\n").at(-1)?.trim();
    const reason =
      `process launcher (${this.python} runtime/dagwright_spawn.py) exited: ${why}` +
      (stderr ? ` (${stderr})` : "");
    this.onDeath(reason);
    this.settleReady(false);
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const handlers of entries) handlers.lost(reason);
  }
}

function unrefStream(stream: unknown): void {
  (stream as { unref?: () => void }).unref?.();
}

function startFailure(python: string, err: NodeJS.ErrnoException): string {
  return err.code === "ENOENT" ? `cannot start ${python}: not found` : err.message;
}

let helper: SpawnHelper | undefined;
let failure: string | undefined;

function enabled(): boolean {
  return process.platform === "linux" && process.env.DAGWRIGHT_SPAWN_HELPER !== "0";
}

/** The launcher, started if need be; undefined when it is off or failed in this process. */
function current(): SpawnHelper | undefined {
  if (failure !== undefined || !enabled()) return undefined;
  if (helper === undefined) {
    const created = new SpawnHelper((reason) => {
      failure = reason;
      if (helper === created) helper = undefined;
    });
    helper = created;
  }
  return helper;
}

/**
 * Starts `req` through the shared launcher and returns true; the handlers then report what
 * happens. False when the launcher is not used, and no handler is called: the caller spawns the
 * process itself. That is when the launcher is turned off (`DAGWRIGHT_SPAWN_HELPER=0`, or not
 * Linux), failed earlier in this process (Node's spawn is used from then on), or is still
 * starting: the first call starts it, and processes start with Node's spawn until it is ready,
 * so its start-up (a python3 start, ~20-100 ms) never delays a task.
 */
export function spawnViaHelper(req: HelperRequest, handlers: HelperHandlers): boolean {
  const launcher = current();
  if (launcher === undefined || !launcher.isReady) return false;
  launcher.spawn(req, handlers);
  return true;
}

/**
 * Starts the launcher now rather than at the first process; resolves true once it is ready,
 * false when it is off or could not start.
 */
export function startSpawnHelper(): Promise<boolean> {
  return current()?.untilReady() ?? Promise.resolve(false);
}

/** Where the launcher stands. */
export function spawnHelperInfo(): HelperInfo {
  if (failure !== undefined) return { state: "failed", reason: failure };
  if (!enabled()) return { state: "disabled" };
  if (helper === undefined) return { state: "idle" };
  const info: HelperInfo = { state: helper.isReady ? "ready" : "starting" };
  if (helper.pid !== undefined) info.pid = helper.pid;
  return info;
}

/**
 * Forgets a launcher that failed, so the next launch starts a new one (tests). A running launcher
 * is left alone.
 */
export function resetSpawnHelper(): void {
  failure = undefined;
}
