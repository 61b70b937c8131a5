/**
 * The persisted event log of a run: `.dagwright/runs/<runId>.jsonl`, one {@link RunEvent} per
 * line, from `run-start` to `run-end`, appended while the run goes. Another process (the UI,
 * `dagwright events --follow`) tails it. Events are written as emitted: task output appears only
 * as `log` events, which are emitted only when the run streams logs (`run -v`), and those lines
 * come from the attempt logs, which are redacted as they are written.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import type { RunEvent, RunObserver } from "../exec/run-events.js";
import { DagwrightError } from "../spec/errors.js";

/** Run event logs kept per project (the starting run's included) unless told otherwise. */
export const DEFAULT_KEEP_RUN_LOGS = 20;

const SUFFIX = ".jsonl";

/** Where a project's run event logs live. */
export function runEventsDir(root: string): string {
  return path.join(root, ".dagwright", "runs");
}

/** The event log of run `runId` of the project at `root`. */
export function runEventsPath(root: string, runId: string): string {
  return path.join(runEventsDir(root), `${runId}${SUFFIX}`);
}

/**
 * How many run event logs to keep: `DAGWRIGHT_KEEP_RUN_LOGS` when set, else 20.
 *
 * @throws DagwrightError `E_USAGE` when the value is not a whole number ≥ 1.
 */
export function keepRunLogsOf(envValue: string | undefined): number {
  if (envValue === undefined || envValue === "") return DEFAULT_KEEP_RUN_LOGS;
  const n = Number(envValue);
  if (!Number.isInteger(n) || n < 1)
    throw new DagwrightError(
      "E_USAGE",
      `DAGWRIGHT_KEEP_RUN_LOGS must be a whole number ≥ 1, received ${JSON.stringify(envValue)}`,
    );
  return n;
}

/** A run's event log, open for appending. */
export interface RunEventLogWriter {
  /** Appends each event; never throws (a log that cannot be written is given up on). */
  observer: RunObserver;
  /** Writes what is pending and closes the file. */
  close(): void;
}

/**
 * Prunes the project's run event logs to the newest `keep - 1`, then opens run `runId`'s log.
 * Events are gathered and written once per event-loop turn (a chatty `run -v` or thousands of
 * fresh tasks would otherwise cost a write each); `run-end` is written at once, so a reader sees
 * the whole run as soon as it ended.
 */
export function openRunEventLog(root: string, runId: string, keep: number): RunEventLogWriter {
  const dir = runEventsDir(root);
  mkdirSync(dir, { recursive: true });
  pruneRunEventLogs(dir, keep - 1);
  let fd: number | undefined = openSync(runEventsPath(root, runId), "a");
  let pending = "";
  const flush = () => {
    if (pending === "" || fd === undefined) return;
    const text = pending;
    pending = "";
    try {
      writeSync(fd, text);
    } catch {
      // A full disk must not fail the run: the log is a view of it, the store is the record.
      closeSync(fd);
      fd = undefined;
    }
  };
  return {
    observer: (e) => {
      if (fd === undefined) return;
      if (pending === "" && e.type !== "run-end") setImmediate(flush);
      pending += `${JSON.stringify(e)}\n`;
      if (e.type === "run-end") flush();
    },
    close: () => {
      flush();
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** Deletes all but the `keep` most recently modified logs in `dir`. */
function pruneRunEventLogs(dir: string, keep: number): void {
  const logs = listRunLogs(dir);
  if (logs.length <= keep) return;
  const byAge = logs
    .map((file) => ({ file, mtime: mtimeOf(file) }))
    .sort((a, b) => b.mtime - a.mtime || (a.file < b.file ? -1 : 1));
  for (const { file } of byAge.slice(keep)) rmSync(file, { force: true });
}

function listRunLogs(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith(SUFFIX))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** One kept run event log. */
export interface RunLogEntry {
  runId: string;
  path: string;
  /** The `time` of its `run-start` event (ISO 8601); absent when the first line is unreadable. */
  started?: string;
}

/**
 * The project's kept run event logs, the most recently started first (by their `run-start`
 * event's time; a log without one counts as oldest).
 */
export function listRuns(root: string): RunLogEntry[] {
  const entries = listRunLogs(runEventsDir(root)).map((file) => {
    const entry: RunLogEntry = { runId: path.basename(file, SUFFIX), path: file };
    const started = firstEvent(file)?.time;
    if (started !== undefined) entry.started = started;
    return entry;
  });
  return entries.sort(
    (a, b) => (b.started ?? "").localeCompare(a.started ?? "") || a.runId.localeCompare(b.runId),
  );
}

/** The most recently started run with an event log in the project at `root`, if any. */
export function latestRun(root: string): RunLogEntry | undefined {
  return listRuns(root)[0];
}

/** The first event of a log: its run-start (which can be long: it lists every task). */
function firstEvent(file: string): RunEvent | undefined {
  const reader = new LineReader(file);
  try {
    let first: RunEvent | undefined;
    reader.read((e) => {
      first ??= e;
    }, 1);
    return first;
  } finally {
    reader.close();
  }
}

/**
 * Reads a log from its start, handing on each whole line as an event: a line still being written
 * waits for its newline, a line that is not JSON is skipped.
 */
class LineReader {
  private fd: number | undefined;
  private offset = 0;
  private carry = "";
  private readonly buf = Buffer.allocUnsafe(1 << 16);

  constructor(private readonly file: string) {}

  /**
   * Hands on the complete lines written since the last call. With `limit`, stops after that many
   * and drops the rest of what it read: for a one-shot look at the start of a log.
   */
  read(onEvent: (e: RunEvent) => void, limit = Number.POSITIVE_INFINITY): void {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.file, "r");
      } catch {
        return; // not there yet (or pruned): nothing to hand on
      }
    }
    let handed = 0;
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, this.offset);
      if (n === 0) return;
      this.offset += n;
      // Lines end in "\n", which never occurs inside a UTF-8 sequence: cutting there is safe.
      const cut = this.buf.lastIndexOf(10, n - 1);
      if (cut === -1) {
        this.carry += this.buf.toString("utf8", 0, n);
        continue;
      }
      const text = this.carry + this.buf.toString("utf8", 0, cut);
      this.carry = this.buf.toString("utf8", cut + 1, n);
      for (const line of text.split("\n")) {
        const event = parseEvent(line);
        if (event === undefined) continue;
        onEvent(event);
        if (++handed >= limit) return;
      }
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function parseEvent(line: string): RunEvent | undefined {
  if (line === "") return undefined;
  try {
    return JSON.parse(line) as RunEvent;
  } catch {
    return undefined;
  }
}

/** Hands on every event a run's log holds now (a run still going: those written so far). */
export function readRunEvents(file: string, onEvent: (e: RunEvent) => void): void {
  const reader = new LineReader(file);
  try {
    reader.read(onEvent);
  } finally {
    reader.close();
  }
}

/** How {@link followRunEvents} follows a log. */
export interface FollowRunEventsOptions {
  /** Aborting it stops following. */
  signal?: AbortSignal;
  /** How often the file is looked at for new lines (default 100 ms). */
  intervalMs?: number;
}

/**
 * Hands on every event of a run's log, from its start, and keeps handing on those appended until
 * the `run-end` event (or `signal` aborts). A log that does not exist yet is waited for. A run
 * whose runner died never writes `run-end`: abort to stop then.
 *
 * @returns "ended" after `run-end`, "aborted" when the signal stopped it first.
 */
export async function followRunEvents(
  file: string,
  onEvent: (e: RunEvent) => void,
  options: FollowRunEventsOptions = {},
): Promise<"ended" | "aborted"> {
  const { signal } = options;
  const interval = options.intervalMs ?? 100;
  const reader = new LineReader(file);
  let ended = false;
  try {
    for (;;) {
      reader.read((e) => {
        if (ended) return;
        onEvent(e);
        if (e.type === "run-end") ended = true;
      });
      if (ended) return "ended";
      if (signal?.aborted) return "aborted";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, interval);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done);
      });
    }
  } finally {
    reader.close();
  }
}
