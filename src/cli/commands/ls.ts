import path from "node:path";
import type { Command } from "commander";
import type { TaskSpec } from "../../spec/types.js";
import type { CommandContext } from "../context.js";
import { loadForCommand } from "../load.js";

/** The language shown by `ls`: python, R, ts, js, shell, command or sql. */
export function taskLanguage(task: TaskSpec): string {
  if (task.kind === "node") return /\.m?ts$/.test(task.file ?? "") ? "ts" : "js";
  if (task.kind === "r") return "R";
  return task.kind;
}

function source(task: TaskSpec): string {
  if (task.command)
    return "argv" in task.command
      ? JSON.stringify(task.command.argv)
      : `sh -c ${JSON.stringify(task.command.shell)}`;
  const fn =
    task.function && (task.functionExplicit || task.kind === "node") ? `:${task.function}` : "";
  return `${task.file ?? ""}${fn}`;
}

export function registerLs(program: Command, ctx: CommandContext): void {
  program
    .command("ls")
    .description("list tasks with their language, source and the graphs they belong to")
    .option("--json", "print JSON on stdout")
    .action(async (opts: { json?: boolean }) => {
      const { spec, graphs } = await loadForCommand(ctx);
      const rows = Object.values(spec.tasks).map((t) => ({
        task: t.name,
        language: taskLanguage(t),
        source: source(t),
        graphs: Object.values(graphs)
          .filter((g) => g.tasks[t.name] !== undefined)
          .map((g) => g.name),
        ...(t.mapOver ? { map_over: t.mapOver.join(",") } : {}),
        ...(t.description ? { description: t.description } : {}),
        tags: t.tags,
      }));
      if (opts.json) {
        ctx.o.out(
          `${JSON.stringify({ file: path.relative(process.cwd(), spec.file) || spec.file, tasks: rows }, null, 2)}\n`,
        );
        return;
      }
      const table = [
        ["TASK", "LANG", "SOURCE", "GRAPHS"],
        ...rows.map((r) => [r.task, r.language, r.source, r.graphs.join(",") || "-"]),
      ];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table)
        ctx.o.out(
          `${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")}\n`,
        );
    });
}
