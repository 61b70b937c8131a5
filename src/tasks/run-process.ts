import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { type ProcMetrics, sampleProcMetrics } from "./proc-metrics.js";
import { type HelperExit, spawnViaHelper } from "./spawn-helper.js";

/**
 * Told about the process group of one {@link runProcess} call: when its leader started and when
 * the call is done with it. A caller records them to find the processes again if this process
 * dies without stopping them (see src/exec/process-ledger.ts). Must not throw.
 */
export interface ProcessHooks {
  /** The leader `pid` (its group is `pid` too) started. */
  started(pid: number): void;
  /** The leader `pid` ended, or its group was stopped. */
  ended(pid: number): void;
}

/** One process to run in its own process group, its output going straight to a log file. */
export interface ProcessRequest {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** File descriptor that receives both stdout and stderr (the child writes to it directly). */
  logFd: number;
  /**
   * The file `logFd` appends to. When given, the process launcher (spawn-helper.ts) may start the
   * process, which opens this path for append itself: whatever the caller wrote to `logFd` before
   * (its header) must already be in the file, as a synchronous write is.
   */
  logPath?: string;
  /**
   * When set, stdout and stderr come through pipes to this sink instead of going to `logFd`
   * (so the caller can redact them), and `logPath` is not used: the process is started with
   * Node's spawn. The promise settles once the pipes are drained (or the group is gone).
   */
  output?: (chunk: Buffer) => void;
  timeoutSeconds?: number;
  /** SIGTERM → this many ms → SIGKILL, for timeouts and cancellation. */
  killGraceMs: number;
  signal?: AbortSignal;
  hooks?: ProcessHooks;
}

/**
 * How a process ended. `not-started`: spawning failed (`error` says why). `lost`: the process
 * launcher died, so the exit status cannot be known; the process group, if it started, was
 * stopped (`error` names the launcher and why it ended).
 */
export interface ProcessOutcome extends ProcMetrics {
  ended: "exited" | "timeout" | "cancelled" | "not-started" | "lost";
  exitCode?: number;
  signal?: string;
  error?: string;
}

const METRICS_INTERVAL_MS = 200;
const GROUP_POLL_MS = 50;

// Process groups still running, killed if this process exits without cancelling them.
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** Sends `sig` to the process group; true when the group exists (0 only checks). */
export function signalGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * True while the group has a member that is not a zombie. kill(-pgid, 0) alone also counts
 * zombies, which stay forever where PID 1 does not reap orphans (containers without an init), so
 * where /proc exists the members' states are read.
 */
export function groupIsAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true;
  }
  for (const entry of entries) {
    const c = entry.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      // After "comm": state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 3);
      if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

/**
 * Remembers a process group to SIGKILL if this process exits while it runs; {@link untrackGroup}
 * forgets it.
 */
export function trackGroup(pgid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort only: callers cancel through AbortSignal, which gives the grace period.
    process.once("exit", () => {
      for (const g of liveGroups) signalGroup(g, "SIGKILL");
    });
  }
  liveGroups.add(pgid);
}

/** Forgets a group {@link trackGroup} remembered. */
export function untrackGroup(pgid: number): void {
  liveGroups.delete(pgid);
}

/**
 * SIGTERM to the group, then SIGKILL after `graceMs` if a member is left. Settles once the group
 * is gone or SIGKILL was sent, and forgets the group. Never rejects.
 */
export function stopGroup(pgid: number, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    signalGroup(pgid, "SIGTERM");
    const until = Date.now() + graceMs;
    const poll = () => {
      if (!groupIsAlive(pgid)) {
        liveGroups.delete(pgid);
        resolve();
      } else if (Date.now() >= until) {
        signalGroup(pgid, "SIGKILL");
        liveGroups.delete(pgid);
        resolve();
      } else {
        setTimeout(poll, Math.min(GROUP_POLL_MS, Math.max(1, until - Date.now())));
      }
    };
    setTimeout(poll, 1);
  });
}

/** Why a process could not start, in words (`cannot start python3: not found on PATH`). */
export function startError(
  req: Pick<ProcessRequest, "command" | "cwd">,
  err: NodeJS.ErrnoException,
): string {
  if (err.code === "ENOENT") {
    if (!existsSync(req.cwd)) return `working directory ${req.cwd} does not exist`;
    return req.command.includes("/")
      ? `cannot start ${req.command}: no such file`
      : `cannot start ${req.command}: not found on PATH`;
  }
  if (err.code === "EACCES") return `cannot start ${req.command}: permission denied`;
  return `cannot start ${req.command}: ${err.message}`;
}

/**
 * Spawns `command args` without a shell (Invariant 4) as the leader of a new session and process
 * group, so a timeout or cancel reaches every descendant (Invariant 6): SIGTERM to the group, then
 * SIGKILL after `killGraceMs` if any member is left. After a timeout or cancel the promise settles
 * once the group is gone or SIGKILL was sent. When the leader exits on its own, members it left
 * behind are sent SIGTERM (SIGKILL after the grace period) and the promise settles at once.
 *
 * With `logPath` (and unless `DAGWRIGHT_SPAWN_HELPER=0`) the process is started by the shared
 * process launcher (spawn-helper.ts) once it is ready, which costs the main thread far less than
 * Node's spawn; then peak RSS and CPU time come from the kernel's rusage (the process and the
 * children it waited for), with /proc samples every 200 ms for a peak too small to tell from the
 * launcher's own. If the launcher dies, a process it started is stopped and reported `lost`, and
 * later processes start with Node's spawn. Node's spawn samples the leader's peak RSS and CPU
 * time from /proc every 200 ms, the first time right away.
 * Never rejects: a spawn failure is `ended: "not-started"`.
 */
export function runProcess(req: ProcessRequest): Promise<ProcessOutcome> {
  if (req.signal?.aborted) return Promise.resolve({ ended: "cancelled" });
  return new Promise((resolve) => {
    if (req.output !== undefined) {
      spawnPiped(req, req.output, resolve);
      return;
    }
    const run = watchProcess(req, resolve);
    if (req.logPath === undefined) {
      spawnWithNode(req, run);
      return;
    }
    const used = spawnViaHelper(
      {
        command: req.command,
        args: req.args,
        cwd: path.resolve(req.cwd),
        env: req.env,
        logPath: path.resolve(req.logPath),
      },
      {
        started: (pid) => run.started(pid, false),
        failed: (err) => run.notStarted(helperStartError(req, err)),
        exited: (exit) => run.exited(exit),
        lost: (message) => run.lost(message),
      },
    );
    if (!used) spawnWithNode(req, run);
  });
}

/** What {@link watchProcess} is told about the process it watches. */
interface ProcessWatch {
  /** `sample`: /proc samples start right away (Node's spawn) rather than after 200 ms. */
  started(pid: number, sample: boolean): void;
  notStarted(error: string): void;
  exited(exit: Omit<HelperExit, "cpuMs"> & ProcMetrics): void;
  lost(message: string): void;
}

/** {@link spawnWithNode} with stdout and stderr piped to `output`. */
function spawnPiped(
  req: ProcessRequest,
  output: (chunk: Buffer) => void,
  resolve: (outcome: ProcessOutcome) => void,
): void {
  let open = 2;
  let outcome: ProcessOutcome | undefined;
  let leader: number | undefined;
  const settle = () => {
    if (outcome !== undefined && open === 0) resolve(outcome);
  };
  const run = watchProcess(req, (o) => {
    if (leader === undefined) {
      resolve(o); // never started: nothing to read
      return;
    }
    outcome = o;
    settle();
    // A descendant that left the process group may hold the pipes open for ever: once the group
    // is gone, stop waiting for the end of the output. Checked on a timer, so the event loop has
    // read what the group wrote before it ended.
    const group = leader;
    const waitForGroup = () => {
      if (open === 0) return;
      if (groupIsAlive(group)) {
        setTimeout(waitForGroup, GROUP_POLL_MS);
        return;
      }
      child?.stdout?.destroy();
      child?.stderr?.destroy();
    };
    setTimeout(waitForGroup, GROUP_POLL_MS);
  });
  const child = spawnWithNode(req, {
    ...run,
    started: (pid, sample) => {
      leader = pid;
      run.started(pid, sample);
    },
  });
  if (child === undefined) return;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", output);
    stream?.once("close", () => {
      open--;
      settle();
    });
  }
}

function spawnWithNode(
  req: ProcessRequest,
  run: ProcessWatch,
): ReturnType<typeof spawn> | undefined {
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(req.command, req.args, {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio:
        req.output === undefined ? ["ignore", req.logFd, req.logFd] : ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    run.notStarted(startError(req, err as NodeJS.ErrnoException));
    return undefined;
  }
  const pid = child.pid;
  if (pid === undefined) {
    child.once("error", (err) => run.notStarted(startError(req, err)));
    return child;
  }
  run.started(pid, true);
  child.once("exit", (code, sig) => {
    const exit: { exitCode?: number; signal?: string } = {};
    if (code !== null) exit.exitCode = code;
    if (sig !== null) exit.signal = sig;
    run.exited(exit);
  });
  return child;
}

/** {@link startError} for a start the launcher reported failed. */
function helperStartError(
  req: ProcessRequest,
  err: NodeJS.ErrnoException & { step: "cwd" | "exec" | "log" },
): string {
  if (err.step === "log") return `cannot open log ${req.logPath}: ${err.message}`;
  if (err.step === "cwd" && err.code !== "ENOENT") {
    return `working directory ${req.cwd}: ${err.message}`;
  }
  return startError(req, err);
}

/**
 * The timeout, cancel, group and metrics handling of one process, whoever starts it. A cancel
 * that comes before the start is known is carried out as soon as it is.
 */
function watchProcess(
  req: ProcessRequest,
  resolve: (outcome: ProcessOutcome) => void,
): ProcessWatch {
  const watcher = new ProcessWatcher(req, resolve);
  // Plain functions, so callers may copy the object and replace one of them.
  return {
    started: (leader, sample) => watcher.started(leader, sample),
    notStarted: (error) => watcher.notStarted(error),
    exited: (exit) => watcher.exited(exit),
    lost: (message) => watcher.lost(message),
  };
}

/** The state behind {@link watchProcess}: the leader, its timers, and why it is being stopped. */
class ProcessWatcher implements ProcessWatch {
  private pid: number | undefined;
  private readonly metrics: ProcMetrics = {};
  private sampler: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private stopping: "timeout" | "cancelled" | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private killed = false;
  private readonly onAbort = () => this.stop("cancelled");

  constructor(
    private readonly req: ProcessRequest,
    private readonly resolve: (outcome: ProcessOutcome) => void,
  ) {
    req.signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  started(leader: number, sample: boolean): void {
    const { req } = this;
    this.pid = leader;
    trackGroup(leader);
    req.hooks?.started(leader);
    if (sample) sampleProcMetrics(leader, this.metrics);
    this.sampler = setInterval(() => sampleProcMetrics(leader, this.metrics), METRICS_INTERVAL_MS);
    this.sampler.unref();
    if (req.timeoutSeconds !== undefined) {
      this.timeoutTimer = setTimeout(() => this.stop("timeout"), req.timeoutSeconds * 1000);
    }
    if (this.stopping !== undefined) this.terminate(leader);
  }

  notStarted(error: string): void {
    this.cleanUp();
    this.finish(
      this.stopping === "cancelled" ? { ended: "cancelled" } : { ended: "not-started", error },
    );
  }

  exited(exit: Omit<HelperExit, "cpuMs"> & ProcMetrics): void {
    this.cleanUp();
    const leader = this.pid!;
    const outcome: ProcessOutcome = { ended: this.stopping ?? "exited", ...this.metrics };
    // rusage covers the whole life (and waited-for children): it wins over samples.
    if (exit.peakRssKb !== undefined) outcome.peakRssKb = exit.peakRssKb;
    if (exit.cpuMs !== undefined) outcome.cpuMs = exit.cpuMs;
    if (exit.exitCode !== undefined) outcome.exitCode = exit.exitCode;
    if (exit.signal !== undefined) outcome.signal = exit.signal;
    if (this.stopping === undefined) {
      liveGroups.delete(leader);
      if (signalGroup(leader, 0)) {
        signalGroup(leader, "SIGTERM");
        setTimeout(() => signalGroup(leader, "SIGKILL"), this.req.killGraceMs).unref();
      }
      this.finish(outcome);
      return;
    }
    this.finishWhenGone(leader, outcome);
  }

  lost(message: string): void {
    this.cleanUp();
    const outcome: ProcessOutcome =
      this.stopping !== undefined ? { ended: this.stopping } : { ended: "lost", error: message };
    const pid = this.pid;
    if (pid === undefined) {
      this.finish(outcome);
      return;
    }
    // Nobody can reap the leader now: stop the whole group, so nothing of a task that is
    // reported failed keeps running (its exit status is lost either way).
    clearTimeout(this.killTimer);
    Object.assign(outcome, this.metrics);
    if (this.killed) {
      liveGroups.delete(pid);
      this.finish(outcome);
    } else {
      void stopGroup(pid, this.req.killGraceMs).then(() => this.finish(outcome));
    }
  }

  /** After a timeout or cancel: settles once the group is gone or SIGKILL was sent. */
  private finishWhenGone(leader: number, outcome: ProcessOutcome): void {
    if (this.killed || !groupIsAlive(leader)) {
      clearTimeout(this.killTimer);
      liveGroups.delete(leader);
      this.finish(outcome);
    } else {
      setTimeout(() => this.finishWhenGone(leader, outcome), GROUP_POLL_MS);
    }
  }

  private terminate(leader: number): void {
    signalGroup(leader, "SIGTERM");
    this.killTimer = setTimeout(() => {
      this.killed = true;
      signalGroup(leader, "SIGKILL");
    }, this.req.killGraceMs);
  }

  private stop(why: "timeout" | "cancelled"): void {
    if (this.stopping !== undefined) return;
    this.stopping = why;
    if (this.pid !== undefined) this.terminate(this.pid);
  }

  private finish(outcome: ProcessOutcome): void {
    if (this.pid !== undefined) this.req.hooks?.ended(this.pid);
    this.resolve(outcome);
  }

  private cleanUp(): void {
    clearInterval(this.sampler);
    clearTimeout(this.timeoutTimer);
    this.req.signal?.removeEventListener("abort", this.onAbort);
  }
}
