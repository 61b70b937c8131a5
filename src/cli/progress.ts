import type { RunEvent, RunObserver } from "../exec/run-events.js";
import { type Output, paint } from "./output.js";
import { sanitizeEvent } from "./sanitize-terminal.js";

/** Up to this many tasks, each fresh task gets its own line. */
const FRESH_LIST_LIMIT = 50;

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * `--json`: one JSON object per line on stdout, for scripts, each with the `time` it was emitted
 * at. Task output in it (log lines, the failure tail, errors) is sanitized as on the terminal,
 * since consumers print it.
 */
export function jsonObserver(o: Output): RunObserver {
  const options = { colors: o.taskColors ?? false };
  return (e) => o.out(`${JSON.stringify(sanitizeEvent(e, options))}\n`);
}

/**
 * Human progress. On a TTY (and without NO_COLOR) a live status line shows done/running/failed
 * counts, the running tasks and the elapsed time; otherwise one plain line per event.
 * Task lines, failures and the summary are printed the same way in both modes. Task output is
 * sanitized of terminal control sequences (colours kept with `o.taskColors`).
 */
export function humanObserver(o: Output, live: boolean): RunObserver {
  const progress = new HumanProgress(o, live);
  const options = { colors: o.taskColors ?? false };
  // Task output, errors and item keys may carry escape sequences meant for the terminal.
  return (event: RunEvent) => progress.handle(sanitizeEvent(event, options));
}

/**
 * The state behind {@link humanObserver}: the counts and running tasks the live status line
 * shows, and the lines gathered for the next write.
 */
class HumanProgress {
  private readonly started = Date.now();
  private readonly running = new Set<string>();
  private total = 0;
  private finished = 0;
  private failed = 0;
  private timer: NodeJS.Timeout | undefined;
  private statusShown = false;
  private lastProgressLine = 0;
  private readonly itemProgress = new Map<string, string>();
  private pending = "";

  constructor(
    private readonly o: Output,
    private readonly live: boolean,
  ) {}

  /** Counts a (sanitized) event and prints its line, if it has one. */
  handle(e: RunEvent): void {
    switch (e.type) {
      case "task-progress":
        this.progress(e);
        return;
      case "log":
        // Whole lines only (the run hands them on so), so parallel tasks never mix mid-line.
        this.gather(logLine(this.o.color, e));
        return;
      case "run-end":
        if (this.timer) clearInterval(this.timer);
        this.flush();
        this.clear();
        this.o.err(`${summaryLine(this.o.color, e)}\n`);
        return;
    }
    this.count(e);
    // Large graphs: fresh tasks are counted in the summary, not listed one per line.
    if (e.type === "task-fresh" && this.total > FRESH_LIST_LIMIT) return;
    const line = eventLine(this.o.color, e);
    if (line !== undefined) this.print(line);
  }

  private count(e: RunEvent): void {
    switch (e.type) {
      case "run-start":
        this.total = e.tasks.length;
        if (this.live) this.timer = setInterval(() => this.status(), 250);
        this.timer?.unref();
        break;
      case "task-fresh":
      case "task-would-run":
      case "task-skipped":
        this.finished++;
        break;
      case "task-start":
        this.running.add(e.task);
        break;
      case "task-retry":
        this.running.delete(e.task);
        break;
      case "task-done":
      case "task-cancelled":
      case "task-failed":
        this.running.delete(e.task);
        this.finished++;
        if (e.type === "task-failed") this.failed++;
        break;
    }
  }

  /** Live: the status line carries it. Plain: at most one line per second, and the last one. */
  private progress(e: EventOf<"task-progress">): void {
    const now = Date.now();
    const done = e.done + e.failed;
    this.itemProgress.set(e.task, `${e.task} ${done}/${e.total}`);
    if (!this.live && (now - this.lastProgressLine >= 1000 || done === e.total)) {
      this.lastProgressLine = now;
      this.print(progressLine(e));
    }
  }

  private clear(): void {
    if (this.statusShown) this.o.err("\r\u001b[2K");
    this.statusShown = false;
  }

  private status(): void {
    if (!this.live) return;
    const names = [...this.running].map((t) => this.itemProgress.get(t) ?? t);
    const shown = names.slice(0, 3).join(", ") + (names.length > 3 ? ` +${names.length - 3}` : "");
    const failed = this.failed > 0 ? paint(this.o.color, "red", `${this.failed} failed, `) : "";
    const line = `[${this.finished}/${this.total}] ${failed}running: ${shown || "-"}  ${seconds(Date.now() - this.started)}`;
    this.o.err(`\r\u001b[2K${line.slice(0, width() - 1 + (line.length - stripAnsi(line).length))}`);
    this.statusShown = true;
  }

  // Lines are gathered and written once per event-loop turn (thousands of tasks, or a chatty task
  // under -v, would otherwise cost thousands of writes); live mode then redraws the status line
  // below them. Live mode prints its own lines at once, after those gathered.
  private flush(): void {
    if (this.pending === "") return;
    if (this.live) this.clear();
    this.o.err(this.pending);
    this.pending = "";
    if (this.live) this.status();
  }

  private gather(line: string): void {
    if (this.pending === "") setImmediate(() => this.flush());
    this.pending += `${line}\n`;
  }

  private print(line: string): void {
    if (!this.live) {
      this.gather(line);
      return;
    }
    this.clear();
    this.o.err(`${this.pending}${line}\n`);
    this.pending = "";
    this.status();
  }
}

type EventOf<T extends RunEvent["type"]> = Extract<RunEvent, { type: T }>;

/** The line an event prints in both modes, or undefined for events that print none. */
function eventLine(color: boolean, e: RunEvent): string | undefined {
  const c = (name: Parameters<typeof paint>[1], text: string) => paint(color, name, text);
  switch (e.type) {
    case "run-start": {
      const n = e.tasks.length;
      return c(
        "dim",
        `run ${e.graph} (${e.namespace}): ${n} task${n === 1 ? "" : "s"}, up to ${e.jobs} at once`,
      );
    }
    case "task-fresh":
      return `${c("dim", "·")} ${e.task} ${c("dim", "fresh")}`;
    case "task-would-run":
      return `${c("yellow", "▶")} ${e.task} would run: ${e.reasons.join("; ")}`;
    case "task-start":
      return `${c("yellow", "▶")} ${e.task}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}${e.worker === undefined ? "" : ` on ${e.worker}`}: ${e.reasons.join("; ")}`;
    case "task-retry":
      return `${c("yellow", "↻")} ${e.task} failed (${e.error}); retrying in ${seconds(e.delayMs)}`;
    case "task-done":
      return `${c("green", "✓")} ${e.task} ${c("dim", seconds(e.durationMs))}`;
    case "task-failed": {
      const tail = e.logTail.length > 0 ? `\n${e.logTail.map((l) => `    ${l}`).join("\n")}` : "";
      return `${c("red", "✗")} ${e.task}: ${e.error}${e.logPath ? `\n  log: ${e.logPath}` : ""}${tail}`;
    }
    case "task-cancelled":
      return `${c("yellow", "■")} ${e.task} cancelled`;
    case "task-skipped":
      return `${c("dim", "-")} ${e.task} skipped: ${e.reason}`;
    case "task-warning":
      return `${c("yellow", "!")} ${e.item === undefined ? e.task : `${e.task}[${e.item}]`}: ${e.message}`;
    case "task-items":
      return `${c("dim", "·")} ${e.task}: ${e.total} item${e.total === 1 ? "" : "s"}${e.total === 0 ? " (the list is empty: nothing to run)" : `, ${e.toRun} to run, ${e.fresh} fresh`}`;
    default:
      return undefined;
  }
}

/** A line of task output under `-v`: `task │ line` (`task[item] │ line` for an item). */
function logLine(color: boolean, e: EventOf<"log">): string {
  return `${paint(color, "dim", `${e.item === undefined ? e.task : `${e.task}[${e.item}]`} │`)} ${e.line}`;
}

/** A mapped task's progress in plain mode: done/total, failures, rate and ETA. */
function progressLine(e: EventOf<"task-progress">): string {
  const done = e.done + e.failed;
  const eta =
    e.etaSeconds !== undefined && done < e.total ? `, ETA ${seconds(e.etaSeconds * 1000)}` : "";
  return `  ${e.task}: ${done}/${e.total} items${e.failed ? `, ${e.failed} failed` : ""} (${e.ratePerSecond.toFixed(1)}/s${eta})`;
}

/** The last line of a run: `done: 3 ran, 1 fresh in 2.1 s` (or `dry run: … would run`). */
function summaryLine(color: boolean, e: EventOf<"run-end">): string {
  const n = e.counts;
  const parts = [`${n.done} ${e.dryRun ? "would run" : "ran"}`, `${n.fresh} fresh`];
  if (n.failed) parts.push(paint(color, "red", `${n.failed} failed`));
  if (n.skipped) parts.push(`${n.skipped} skipped`);
  if (n.cancelled) parts.push(`${n.cancelled} cancelled`);
  const head = e.dryRun
    ? `dry run${e.status === "succeeded" ? "" : ` ${e.status}`}`
    : e.status === "succeeded"
      ? paint(color, "green", "done")
      : e.status;
  const memo = e.nothingChanged ? paint(color, "dim", " (nothing changed since the last run)") : "";
  return `${head}: ${parts.join(", ")} in ${seconds(e.durationMs)}${memo}`;
}

/** The terminal's width; pseudo-terminals without a size report 0, which means "unknown". */
function width(): number {
  const columns = process.stderr.columns;
  return columns !== undefined && columns >= 20 ? columns : 100;
}

function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes on purpose
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}
