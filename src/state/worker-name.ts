import { hostname } from "node:os";

/*
 * Who runs an attempt, as the state store records it: `HOST:PID` of the process that wrote its
 * begin (a `dagwright run`, `run-task` or `worker` process).
 */

let host: string | undefined;

/** `HOST:PID` of this process: who runs an attempt when the caller does not say. */
export function defaultWorker(): string {
  host ??= hostname();
  return `${host}:${process.pid}`;
}

/**
 * Whether `worker` (`HOST:PID`) is a process of this machine that no longer exists: an attempt
 * still recorded as running under it was interrupted (its runner was killed or crashed). False
 * when it lives, runs on another machine (which only that machine can tell), or is not `HOST:PID`.
 */
export function isWorkerGone(worker: string): boolean {
  const at = worker.lastIndexOf(":");
  const pid = Number(worker.slice(at + 1));
  if (at <= 0 || !Number.isInteger(pid) || pid <= 0) return false;
  host ??= hostname();
  if (worker.slice(0, at) !== host) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
