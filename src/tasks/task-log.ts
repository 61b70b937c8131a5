import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import path from "node:path";
import { StreamRedactor } from "./redact.js";

/** How many lines {@link closeTaskLog} returns. */
export const LOG_TAIL_LINES = 20;
// Enough bytes for 20 ordinary lines; a tail of very long lines is cut at the front.
const TAIL_BYTES = 16 * 1024;

/** An open task log: appended to by the task, read back for its tail. */
export interface TaskLog {
  readonly path: string;
  /** File descriptor opened for append (and read); a child process can write to it directly. */
  readonly fd: number;
  /** Byte offset where this attempt's output starts (after its header line). */
  readonly start: number;
  /** False for a lazy log nothing was written to yet (no file was created). */
  readonly opened: boolean;
  /** Set when the task has secret values: what {@link writeTaskLog} writes passes through it. */
  readonly redactor?: StreamRedactor;
}

/** How {@link openTaskLog} opens a log. */
export interface TaskLogOptions {
  /** Create the file on the first write (in-process tasks usually print nothing). */
  lazy?: boolean;
  /**
   * Secret values (see secretValues in redact.ts) that {@link writeTaskLog} replaces with `***`.
   * Output that bypasses writeTaskLog (a child writing `fd` directly) is not redacted, so a task
   * with secrets must have its output piped through writeTaskLog.
   */
  secrets?: readonly string[];
}

// Directories already created in this process, so a hot path does not mkdir each time.
const madeDirs = new Set<string>();

/**
 * Opens `logPath` for append (creating its directory) and writes one header line,
 * `# dagwright <task> <ISO time> <what>`. Earlier attempts' lines stay above it.
 * @throws the file system error when the log cannot be created.
 */
export function openTaskLog(
  logPath: string,
  task: string,
  what: string,
  options: TaskLogOptions = {},
): TaskLog {
  const redactor =
    options.secrets !== undefined && options.secrets.length > 0
      ? new StreamRedactor(options.secrets)
      : undefined;
  if (!options.lazy) return openNow(logPath, task, what, redactor);
  // In-process tasks (TS/JS workers) usually print nothing: create the file on the first write,
  // so a thousand quiet tasks do not cost a thousand file creations.
  let real: TaskLog | undefined;
  const open = () => {
    real ??= openNow(logPath, task, what, redactor);
    return real;
  };
  return {
    ...(redactor === undefined ? {} : { redactor }),
    path: logPath,
    get fd() {
      return open().fd;
    },
    get start() {
      return open().start;
    },
    get opened() {
      return real !== undefined;
    },
  };
}

function openNow(
  logPath: string,
  task: string,
  what: string,
  redactor: StreamRedactor | undefined,
): TaskLog {
  const dir = path.dirname(logPath);
  let fd: number;
  try {
    if (!madeDirs.has(dir)) mkdirSync(dir, { recursive: true });
    fd = openSync(logPath, "a+");
  } catch (err) {
    // The remembered directory may have been removed since (a cleaned scratch dir).
    if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !madeDirs.has(dir)) throw err;
    mkdirSync(dir, { recursive: true });
    fd = openSync(logPath, "a+");
  }
  madeDirs.add(dir);
  writeSync(fd, `# dagwright ${task} ${new Date().toISOString()} ${what}\n`);
  const log = { path: logPath, fd, start: fstatSync(fd).size, opened: true };
  return redactor === undefined ? log : { ...log, redactor };
}

/**
 * Appends output (a message of dagwright's own, a worker's console output, a piped process's
 * bytes) to the log, with the log's secret values redacted. A value split across two calls is
 * still redacted: the last few bytes wait for the next call or {@link endTaskLogOutput}.
 * Never throws: losing a log line (disk full) must not turn into losing the task's result.
 */
export function writeTaskLog(log: TaskLog, text: string | Buffer): void {
  try {
    if (log.redactor === undefined) {
      if (typeof text === "string") writeSync(log.fd, text);
      else writeSync(log.fd, text);
      return;
    }
    const bytes = log.redactor.write(text);
    if (bytes.length > 0) writeSync(log.fd, bytes);
  } catch {
    // best effort
  }
}

/**
 * Writes what the redactor held back (see {@link writeTaskLog}): call when the task's output has
 * ended. {@link readTaskLogTail} and {@link closeTaskLog} call it. Never throws.
 */
export function endTaskLogOutput(log: TaskLog): void {
  if (log.redactor === undefined) return;
  try {
    const rest = log.redactor.end();
    if (rest.length > 0) writeSync(log.fd, rest);
  } catch {
    // best effort
  }
}

/**
 * The last {@link LOG_TAIL_LINES} lines this attempt wrote (the header excluded); the task's
 * output has ended (see {@link endTaskLogOutput}). Never throws: a log that cannot be read back
 * gives an empty tail.
 */
export function readTaskLogTail(log: TaskLog): string[] {
  endTaskLogOutput(log);
  if (!log.opened) return [];
  try {
    const size = fstatSync(log.fd).size;
    const from = Math.max(log.start, size - TAIL_BYTES);
    const buf = Buffer.allocUnsafe(size - from);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(log.fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    const lines = buf.toString("utf8", 0, got).split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    // A read that starts mid-file starts mid-line; drop that fragment when whole lines remain.
    if (from > log.start && lines.length > 1) lines.shift();
    return lines.slice(-LOG_TAIL_LINES);
  } catch {
    return [];
  }
}

/** Closes the log's file descriptor. Never throws. */
export function closeTaskLog(log: TaskLog): void {
  endTaskLogOutput(log);
  if (!log.opened) return;
  try {
    closeSync(log.fd);
  } catch {
    // already closed
  }
}
