import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { type ProcMetrics, sampleProcMetrics } from "./proc-metrics.js";

/** One process to run in its own process group, its output going straight to a log file. */
export interface ProcessRequest {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** File descriptor that receives both stdout and stderr (the child writes to it directly). */
  logFd: number;
  timeoutSeconds?: number;
  /** SIGTERM → this many ms → SIGKILL, for timeouts and cancellation. */
  killGraceMs: number;
  signal?: AbortSignal;
}

/** How a process ended. `not-started`: spawning failed (`error` says why). */
export interface ProcessOutcome extends ProcMetrics {
  ended: "exited" | "timeout" | "cancelled" | "not-started";
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
 * Spawns `command args` without a shell (Invariant 4) as the leader of a new process group, so a
 * timeout or cancel reaches every descendant (Invariant 6): SIGTERM to the group, then SIGKILL
 * after `killGraceMs` if any member is left. After a timeout or cancel the promise settles once
 * the group is gone or SIGKILL was sent. When the leader exits on its own, members it left behind
 * are sent SIGTERM (SIGKILL after the grace period) and the promise settles at once.
 * Samples the leader's peak RSS and CPU time from /proc every 200 ms, the first time right away.
 * Never rejects: a spawn failure is `ended: "not-started"`.
 */
export function runProcess(req: ProcessRequest): Promise<ProcessOutcome> {
  if (req.signal?.aborted) return Promise.resolve({ ended: "cancelled" });
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(req.command, req.args, {
        cwd: req.cwd,
        env: req.env,
        detached: true,
        stdio: ["ignore", req.logFd, req.logFd],
      });
    } catch (err) {
      resolve({ ended: "not-started", error: startError(req, err as NodeJS.ErrnoException) });
      return;
    }
    const pid = child.pid;
    if (pid === undefined) {
      child.once("error", (err) => resolve({ ended: "not-started", error: startError(req, err) }));
      return;
    }
    trackGroup(pid);

    const metrics: ProcMetrics = {};
    sampleProcMetrics(pid, metrics);
    const sampler = setInterval(() => sampleProcMetrics(pid, metrics), METRICS_INTERVAL_MS);
    sampler.unref();

    let stopping: "timeout" | "cancelled" | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let killed = false;
    const stop = (why: "timeout" | "cancelled") => {
      if (stopping !== undefined) return;
      stopping = why;
      signalGroup(pid, "SIGTERM");
      killTimer = setTimeout(() => {
        killed = true;
        signalGroup(pid, "SIGKILL");
      }, req.killGraceMs);
    };
    const timeoutTimer =
      req.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => stop("timeout"), req.timeoutSeconds * 1000);
    const onAbort = () => stop("cancelled");
    req.signal?.addEventListener("abort", onAbort, { once: true });

    child.once("exit", (code, sig) => {
      clearInterval(sampler);
      clearTimeout(timeoutTimer);
      req.signal?.removeEventListener("abort", onAbort);
      const outcome: ProcessOutcome = { ended: stopping ?? "exited", ...metrics };
      if (code !== null) outcome.exitCode = code;
      if (sig !== null) outcome.signal = sig;
      if (stopping === undefined) {
        liveGroups.delete(pid);
        if (signalGroup(pid, 0)) {
          signalGroup(pid, "SIGTERM");
          setTimeout(() => signalGroup(pid, "SIGKILL"), req.killGraceMs).unref();
        }
        resolve(outcome);
        return;
      }
      const settle = () => {
        if (killed || !groupIsAlive(pid)) {
          clearTimeout(killTimer);
          liveGroups.delete(pid);
          resolve(outcome);
        } else {
          setTimeout(settle, GROUP_POLL_MS);
        }
      };
      settle();
    });
  });
}
