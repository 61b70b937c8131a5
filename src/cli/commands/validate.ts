import path from "node:path";
import type { Command } from "commander";
import { type CommandContext, EXIT } from "../context.js";
import { paint, printDiagnostics } from "../output.js";

/** Tasks of a graph's run order shown after `ok`; a generated 90,000-task chain is not read. */
const ORDER_SHOWN = 20;

export function registerValidate(program: Command, ctx: CommandContext): void {
  program
    .command("validate")
    .description(
      "check the spec and every graph; report all problems with file:line:column and a fix",
    )
    .option("--json", "print the result as JSON on stdout")
    .action(async (opts: { json?: boolean }) => {
      const { loadCheckedSpec } = await import("../../graph/check-spec.js");
      const file = ctx.globals().file;
      const result = loadCheckedSpec(file === undefined ? {} : { file });
      const { graphs, diagnostics: sorted } = result;
      const errors = sorted.filter((d) => d.severity === "error").length;
      const display = path.relative(process.cwd(), result.file) || result.file;
      if (opts.json) {
        ctx.o.out(
          `${JSON.stringify(
            {
              ok: errors === 0,
              file: display,
              format: result.spec?.format ?? null,
              graphs: Object.fromEntries(
                Object.entries(graphs).map(([n, g]) => [
                  n,
                  { tasks: g.order.length, order: g.order },
                ]),
              ),
              tasks: result.spec ? Object.keys(result.spec.tasks).length : 0,
              diagnostics: sorted,
            },
            null,
            2,
          )}\n`,
        );
      } else {
        printDiagnostics(ctx.o, sorted);
        if (errors > 0) {
          ctx.o.err(`${errors} error${errors === 1 ? "" : "s"} in ${display}\n`);
        } else {
          const spec = result.spec!;
          const nGraphs = Object.keys(graphs).length;
          const nTasks = Object.keys(spec.tasks).length;
          ctx.o.out(
            `${paint(ctx.o.color, "green", "ok")}: ${display} (${spec.format} format): ${nGraphs} graph${nGraphs === 1 ? "" : "s"}, ${nTasks} task${nTasks === 1 ? "" : "s"}\n`,
          );
          for (const [name, g] of Object.entries(graphs)) {
            const shown = g.order.slice(0, ORDER_SHOWN).join(" → ");
            const more = g.order.length - ORDER_SHOWN;
            ctx.o.out(`  ${name}: ${shown}${more > 0 ? ` → … (${more} more)` : ""}\n`);
          }
        }
      }
      ctx.setExit(errors > 0 ? EXIT.badInput : EXIT.ok);
    });
}
