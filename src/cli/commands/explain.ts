import type { Command } from "commander";
import { describeChange } from "../../fingerprint/fingerprint.js";
import type { CommandContext } from "../context.js";
import { openCommandProject, type RunFlags, selectionOf } from "../run-context.js";

const short = (h: string | undefined) =>
  h === undefined ? "(none)" : h.length > 12 ? h.slice(0, 12) : h;

export function registerExplain(program: Command, ctx: CommandContext): void {
  program
    .command("explain")
    .description("show the fingerprint parts behind a task's fresh/stale decision")
    .argument("<GRAPH>", "graph name")
    .argument("<TASK>", "task name")
    .option("--json", "print JSON on stdout")
    .option("--env <NAME>", "merge environments.NAME.config over config")
    .option(
      "--set <KEY=VALUE>",
      "override a config value (repeatable; dotted keys, JSON values)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(async (graphName: string, taskName: string, opts: RunFlags & { json?: boolean }) => {
      const project = await openCommandProject(ctx);
      try {
        const { assessment: r, changes } = await project.explain(
          taskName,
          selectionOf(graphName, opts),
        );
        if (opts.json) {
          ctx.o.out(
            `${JSON.stringify({ task: r.task, state: r.state, reasons: r.reasons, changes, parts: r.decision.parts }, null, 2)}\n`,
          );
          return;
        }
        ctx.o.out(`${r.task}: ${r.state === "never-ran" ? "never ran" : r.state}\n`);
        for (const reason of r.reasons) ctx.o.out(`  - ${reason}\n`);
        if (changes.length > 0) {
          ctx.o.out("\nfingerprint parts that differ from the last success:\n");
          for (const c of changes)
            ctx.o.out(
              c.part === "upstream" || c.scheme !== undefined
                ? `  ${describeChange(c)}\n`
                : `  ${c.part}${c.key ? ` ${c.key}` : ""}: ${short(c.before)} → ${short(c.after)}\n`,
            );
        }
        ctx.o.out("\ncurrent fingerprint parts:\n");
        const p = r.decision.parts;
        for (const [f, h] of Object.entries(p.code)) ctx.o.out(`  code ${f}: ${short(h)}\n`);
        for (const [f, h] of Object.entries(p.inputs)) ctx.o.out(`  input ${f}: ${short(h)}\n`);
        for (const [d, u] of Object.entries(p.upstream))
          ctx.o.out(
            `  upstream ${d}: outputs ${short(u.outputs)}, result ${short(u.result ?? undefined)}${u.items ? `, ${u.items.length} items` : ""}\n`,
          );
        ctx.o.out(`  args: ${short(p.args)}\n`);
        const keys = Object.entries(p.config);
        if (keys.length === 0) ctx.o.out("  config: (no keys used)\n");
        for (const [k, h] of keys) ctx.o.out(`  config ${k}: ${short(h)}\n`);
        for (const [k, h] of Object.entries(p.env)) ctx.o.out(`  env ${k}: ${short(h)}\n`);
        ctx.o.out(`  definition: ${short(p.definition)}\n`);
        for (const [k, v] of Object.entries(p.runtime)) ctx.o.out(`  runtime ${k}: ${v}\n`);
      } finally {
        await project.close();
      }
    });
}
