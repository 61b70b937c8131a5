import type { Command } from "commander";
import type { RunningAttempt, RunningItems, TaskStatusRow } from "../../session/project.js";
import type { CommandContext } from "../context.js";
import { paint } from "../output.js";
import { openCommandProject, type RunFlags, selectionOf } from "../run-context.js";
import { sanitizeTerminal } from "../sanitize-terminal.js";
import { addRunFlags } from "./run.js";

/**
 * `on HOST:PID since HH:MM:SS` (local time) for a task running now; says so when that process is
 * gone (its run was killed), since such a record stays "running" until the next run.
 */
function runningCell(running: RunningAttempt): string {
  const since = new Date(running.startedAt).toTimeString().slice(0, 8);
  const who = running.worker === undefined ? "" : `on ${running.worker} `;
  return `${who}since ${since}${running.gone ? " (that process is gone: interrupted)" : ""}`;
}

/** `3 items running on HOST:PID, HOST:PID` for a fan-out whose items run now. */
function itemsCell(items: RunningItems): string {
  const n = `${items.count} item${items.count === 1 ? "" : "s"} running`;
  return items.workers.length === 0 ? n : `${n} on ${items.workers.join(", ")}`;
}

/** The text after a task's state: why it is stale or failed, or who runs it. */
function whyCell(r: TaskStatusRow): string {
  const why =
    r.state === "failed" && r.lastAttempt?.error
      ? r.lastAttempt.error
      : r.state === "stale"
        ? r.reasons.join("; ")
        : r.running
          ? runningCell(r.running)
          : "";
  if (r.runningItems === undefined) return why;
  return why ? `${why}; ${itemsCell(r.runningItems)}` : itemsCell(r.runningItems);
}

/** `dagwright status`: each task's state, and who runs the tasks running now. */
export function registerStatus(program: Command, ctx: CommandContext): void {
  addRunFlags(
    program
      .command("status")
      .description("each task: fresh, stale (and why), failed, running or never ran")
      .argument("[GRAPH]", "graph name (optional when the spec has one graph)"),
  )
    .option("--json", "print JSON on stdout")
    .action(async (graphName: string | undefined, opts: RunFlags & { json?: boolean }) => {
      const project = await openCommandProject(ctx);
      try {
        const report = await project.status(selectionOf(graphName, opts));
        const rows = report.tasks;
        if (opts.json) {
          const tasks = rows.map((r) => ({
            task: r.task,
            state: r.state,
            reasons: r.reasons,
            ...(r.lastSuccess
              ? {
                  lastSuccess: new Date(
                    r.lastSuccess.endedAt ?? r.lastSuccess.startedAt,
                  ).toISOString(),
                  durationMs: r.lastSuccess.durationMs,
                }
              : {}),
            ...(r.lastAttempt?.error ? { error: r.lastAttempt.error } : {}),
            ...(r.running
              ? {
                  running: {
                    worker: r.running.worker ?? null,
                    attemptId: r.running.attemptId,
                    startedAt: new Date(r.running.startedAt).toISOString(),
                    ...(r.running.gone ? { gone: true } : {}),
                  },
                }
              : {}),
            ...(r.runningItems ? { runningItems: r.runningItems } : {}),
          }));
          ctx.o.out(
            `${JSON.stringify({ graph: report.graph, namespace: report.namespace, tasks }, null, 2)}\n`,
          );
          return;
        }
        const width = Math.max(...rows.map((r) => r.task.length));
        const color = {
          fresh: "green",
          stale: "yellow",
          failed: "red",
          "never-ran": "dim",
          running: "yellow",
        } as const;
        ctx.o.out(`${report.graph} (${report.namespace})\n`);
        for (const r of rows) {
          const label = r.state === "never-ran" ? "never ran" : r.state;
          const why = whyCell(r);
          // A task's error text reaches the terminal: nothing in it may act on the terminal.
          const cell = why
            ? `${label.padEnd(9)}  ${sanitizeTerminal(why, { colors: false })}`
            : label;
          ctx.o.out(`  ${r.task.padEnd(width)}  ${paint(ctx.o.color, color[r.state], cell)}\n`);
        }
      } finally {
        await project.close();
      }
    });
}
