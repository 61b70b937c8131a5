import { createHash } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";

/**
 * Where attempt logs live: one file per attempt,
 * `<logDir>/<task>/<stamp>.log` for a task and `<logDir>/<task>/<item>/<stamp>.log` for a fan-out
 * item (a bundle of several items writes one log, in its first item's directory). `<stamp>` is the
 * attempt's start time (UTC, `2025-01-31T09-15-02.123Z`) with a sequence number, so names sort
 * in start order. `logs` reads the same layout back.
 *
 * @module
 */

/** How many attempt logs a task (or item) keeps when neither the spec nor the env says. */
export const DEFAULT_KEEP_LOGS = 5;

/**
 * `<root>/.dagwright/logs/<namespace>`: the log directory of one namespace (its name as a
 * {@link logSegment} that also keeps `@`, so `g@feat/x` and `g@feat_x` stay apart).
 */
export function logDirOf(root: string, namespace: string): string {
  return path.join(root, ".dagwright", "logs", safeSegment(namespace, /[^A-Za-z0-9_.@-]/g));
}

// Longest segment kept as written; longer ones are cut (and get the hash).
const MAX_SEGMENT = 120;

/**
 * A task name or item key as one path segment that stays inside its parent directory, distinct
 * for distinct names: characters other than letters, digits and `_.,=-` become `_`, a leading dot
 * becomes `_` (no `..`), an empty name is `_`, long names are cut; whenever that changed the
 * name, `-` and 12 hex digits of its SHA-256 follow (`a%` → `a_-3f2c…`, while `a_` stays `a_`).
 */
export function logSegment(name: string): string {
  // Most task and item names are already safe: no replacing, no hashing.
  if (SAFE_SEGMENT.test(name) && name.length <= MAX_SEGMENT) return name;
  return safeSegment(name, /[^A-Za-z0-9_.,=-]/g);
}

/** A name {@link logSegment} keeps as it is: safe characters, not starting with a dot. */
const SAFE_SEGMENT = /^[A-Za-z0-9_,=-][A-Za-z0-9_.,=-]*$/;

function safeSegment(name: string, unsafe: RegExp): string {
  let s = name.replace(unsafe, "_").replace(/^\./, "_");
  if (s === "") s = "_";
  if (s.length > MAX_SEGMENT) s = s.slice(0, MAX_SEGMENT);
  if (s === name) return s;
  return `${s}-${createHash("sha256").update(name).digest("hex").slice(0, 12)}`;
}

/** The directory holding the attempt logs of a task, or of one item of it. */
export function attemptLogDir(logDir: string, task: string, item?: string): string {
  const dir = path.join(logDir, logSegment(task));
  return item === undefined ? dir : path.join(dir, logSegment(item));
}

let lastStampMs = 0;
let seq = 0;

/**
 * A new attempt's log file in {@link attemptLogDir}. Names are unique within this process and
 * sort in the order they were made (two in the same millisecond differ by their sequence number).
 */
export function newAttemptLogPath(logDir: string, task: string, item?: string): string {
  const now = Date.now();
  if (now === lastStampMs) seq++;
  else {
    lastStampMs = now;
    seq = 0;
  }
  const stamp = new Date(now).toISOString().replace(/:/g, "-");
  return path.join(
    attemptLogDir(logDir, task, item),
    `${stamp}-${String(seq).padStart(3, "0")}.log`,
  );
}

/** The start time an attempt log's name records, or undefined for a name of another form. */
export function attemptLogTime(file: string): Date | undefined {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d(?:\.\d+)?)Z-\d+\.log$/.exec(
    path.basename(file),
  );
  if (!m) return undefined;
  const d = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The attempt logs in `dir`, oldest first (absolute paths); none when it does not exist. */
export function listAttemptLogs(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => attemptLogTime(n) !== undefined)
    .sort()
    .map((n) => path.join(dir, n));
}

/**
 * Deletes the oldest attempt logs in `current`'s directory so that, with `current` (the attempt
 * starting now, whose file may not exist yet), `keep` remain. `current` itself is never deleted.
 * Reads only that one directory. Never throws: a log that cannot be deleted stays.
 */
export function pruneAttemptLogs(current: string, keep: number): void {
  const others = listAttemptLogs(path.dirname(current)).filter((f) => f !== current);
  const excess = others.length - Math.max(0, keep - 1);
  for (let i = 0; i < excess; i++) {
    try {
      rmSync(others[i]!, { force: true });
    } catch {
      // best effort: a log kept too many is better than a failed attempt
    }
  }
}

/**
 * The number of attempt logs to keep per task and item: `DAGWRIGHT_KEEP_LOGS` when set, else the
 * spec's `settings.keep_logs`, else {@link DEFAULT_KEEP_LOGS}.
 * @throws RangeError when the variable is not a whole number ≥ 1 (the message names it).
 */
export function keepLogsOf(envValue: string | undefined, setting: number | undefined): number {
  if (envValue === undefined || envValue === "") return setting ?? DEFAULT_KEEP_LOGS;
  const n = Number(envValue);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(
      `DAGWRIGHT_KEEP_LOGS must be a whole number ≥ 1, received ${JSON.stringify(envValue)}`,
    );
  return n;
}
