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
  const started = Date.now();
  const running = new Set<string>();
  let total = 0;
  let finished = 0;
  let failed = 0;
  let timer: NodeJS.Timeout | undefined;
  let statusShown = false;
  let lastProgressLine = 0;
  const itemProgress = new Map<string, string>();
  const clear = () => {
    if (statusShown) o.err("\r\u001b[2K");
    statusShown = false;
  };
  const status = () => {
    if (!live) return;
    const names = [...running].map((t) => itemProgress.get(t) ?? t);
    const shown = names.slice(0, 3).join(", ") + (names.length > 3 ? ` +${names.length - 3}` : "");
    const line = `[${finished}/${total}] ${failed > 0 ? paint(o.color, "red", `${failed} failed, `) : ""}running: ${shown || "-"}  ${seconds(Date.now() - started)}`;
    o.err(`\r\u001b[2K${line.slice(0, width() - 1 + (line.length - stripAnsi(line).length))}`);
    statusShown = true;
  };
  // Lines are gathered and written once per event-loop turn (thousands of tasks, or a chatty task
  // under -v, would otherwise cost thousands of writes); live mode then redraws the status line
  // below them. Live mode prints its own lines at once, after those gathered.
  let pending = "";
  const flush = () => {
    if (pending === "") return;
    if (live) clear();
    o.err(pending);
    pending = "";
    if (live) status();
  };
  const gather = (line: string) => {
    if (pending === "") setImmediate(flush);
    pending += `${line}\n`;
  };
  const print = (line: string) => {
    if (!live) {
      gather(line);
      return;
    }
    clear();
    o.err(`${pending}${line}\n`);
    pending = "";
    status();
  };
  const options = { colors: o.taskColors ?? false };
  return (event: RunEvent) => {
    // Task output, errors and item keys may carry escape sequences meant for the terminal.
    const e = sanitizeEvent(event, options);
    switch (e.type) {
      case "run-start":
        total = e.tasks.length;
        print(
          paint(
            o.color,
            "dim",
            `run ${e.graph} (${e.namespace}): ${total} task${total === 1 ? "" : "s"}, up to ${e.jobs} at once`,
          ),
        );
        if (live) timer = setInterval(status, 250);
        timer?.unref();
        break;
      case "task-fresh":
        finished++;
        // Large graphs: fresh tasks are counted in the summary, not listed one per line.
        if (total <= FRESH_LIST_LIMIT)
          print(`${paint(o.color, "dim", "·")} ${e.task} ${paint(o.color, "dim", "fresh")}`);
        break;
      case "task-would-run":
        finished++;
        print(`${paint(o.color, "yellow", "▶")} ${e.task} would run: ${e.reasons.join("; ")}`);
        break;
      case "task-start":
        running.add(e.task);
        print(
          `${paint(o.color, "yellow", "▶")} ${e.task}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ""}: ${e.reasons.join("; ")}`,
        );
        break;
      case "task-retry":
        running.delete(e.task);
        print(
          `${paint(o.color, "yellow", "↻")} ${e.task} failed (${e.error}); retrying in ${seconds(e.delayMs)}`,
        );
        break;
      case "task-done":
        running.delete(e.task);
        finished++;
        print(
          `${paint(o.color, "green", "✓")} ${e.task} ${paint(o.color, "dim", seconds(e.durationMs))}`,
        );
        break;
      case "task-failed": {
        running.delete(e.task);
        finished++;
        failed++;
        const tail = e.logTail.length > 0 ? `\n${e.logTail.map((l) => `    ${l}`).join("\n")}` : "";
        print(
          `${paint(o.color, "red", "✗")} ${e.task}: ${e.error}${e.logPath ? `\n  log: ${e.logPath}` : ""}${tail}`,
        );
        break;
      }
      case "log":
        // Whole lines only (the run hands them on so), so parallel tasks never mix mid-line.
        gather(
          `${paint(o.color, "dim", `${e.item === undefined ? e.task : `${e.task}[${e.item}]`} │`)} ${e.line}`,
        );
        break;
      case "task-cancelled":
        running.delete(e.task);
        finished++;
        print(`${paint(o.color, "yellow", "■")} ${e.task} cancelled`);
        break;
      case "task-skipped":
        finished++;
        print(`${paint(o.color, "dim", "-")} ${e.task} skipped: ${e.reason}`);
        break;
      case "task-items":
        print(
          `${paint(o.color, "dim", "·")} ${e.task}: ${e.total} item${e.total === 1 ? "" : "s"}${e.total === 0 ? " (the list is empty: nothing to run)" : `, ${e.toRun} to run, ${e.fresh} fresh`}`,
        );
        break;
      case "task-progress": {
        const now = Date.now();
        const finished = e.done + e.failed;
        // Live: the status line carries it. Plain: at most one line per second, and the last one.
        itemProgress.set(e.task, `${e.task} ${finished}/${e.total}`);
        if (!live && (now - lastProgressLine >= 1000 || finished === e.total)) {
          lastProgressLine = now;
          const eta =
            e.etaSeconds !== undefined && finished < e.total
              ? `, ETA ${seconds(e.etaSeconds * 1000)}`
              : "";
          print(
            `  ${e.task}: ${finished}/${e.total} items${e.failed ? `, ${e.failed} failed` : ""} (${e.ratePerSecond.toFixed(1)}/s${eta})`,
          );
        }
        break;
      }
      case "run-end": {
        if (timer) clearInterval(timer);
        const c = e.counts;
        const parts = [`${c.done} ${e.dryRun ? "would run" : "ran"}`, `${c.fresh} fresh`];
        if (c.failed) parts.push(paint(o.color, "red", `${c.failed} failed`));
        if (c.skipped) parts.push(`${c.skipped} skipped`);
        if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
        flush();
        clear();
        o.err(
          `${e.dryRun ? `dry run${e.status === "succeeded" ? "" : ` ${e.status}`}` : e.status === "succeeded" ? paint(o.color, "green", "done") : e.status}: ${parts.join(", ")} in ${seconds(e.durationMs)}${e.nothingChanged ? paint(o.color, "dim", " (nothing changed since the last run)") : ""}\n`,
        );
        break;
      }
    }
  };
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
