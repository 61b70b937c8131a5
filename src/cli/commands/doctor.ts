import path from "node:path";
import type { Command } from "commander";
import { runtimeVersions } from "../../fingerprint/runtime-versions.js";
import { buildGraph } from "../../graph/build-graph.js";
import type { Graph } from "../../graph/graph.js";
import type { Spec, TaskKind, TaskSpec } from "../../spec/types.js";
import { type CommandContext, EXIT } from "../context.js";
import { loadForCommand } from "../load.js";
import { paint } from "../output.js";
import {
  type Check,
  checkArtifacts,
  checkCommandPrograms,
  checkRuntimes,
  checkStateStore,
  checkWritableDir,
} from "../preflight.js";

/** The tasks doctor checks for: GRAPH's, else those of every graph. */
function tasksToCheck(
  spec: Spec,
  graphs: Record<string, Graph>,
  graphName: string | undefined,
): TaskSpec[] {
  const chosen =
    graphName === undefined
      ? Object.values(graphs)
      : [graphs[graphName] ?? buildGraph(spec, graphName)];
  const names = new Set(chosen.flatMap((g) => Object.keys(g.tasks)));
  return [...names].sort().map((n) => spec.tasks[n]!);
}

/** Every check for `tasks` of `spec`, in the order they are printed. */
async function runChecks(spec: Spec, tasks: readonly TaskSpec[]): Promise<Check[]> {
  const env = process.env;
  const lookup = { env, cwd: spec.root };
  const versions = await runtimeVersions(new Set<TaskKind>(tasks.map((t) => t.kind)));
  const scratch = env.SCRATCH_DIR
    ? path.resolve(env.SCRATCH_DIR)
    : path.join(spec.root, spec.settings.scratchDir);
  const artifacts = await checkArtifacts(env);
  return [
    ...checkRuntimes(tasks, versions, lookup),
    ...checkCommandPrograms(tasks, lookup),
    await checkStateStore(spec.root, env),
    ...(artifacts === undefined ? [] : [artifacts]),
    checkWritableDir(
      "dir:.dagwright",
      "state and logs directory",
      path.join(spec.root, ".dagwright"),
    ),
    checkWritableDir("dir:scratch", "scratch directory", scratch),
  ];
}

const MARKS = { ok: ["green", "✓"], warn: ["yellow", "!"], fail: ["red", "✗"] } as const;

/** `dagwright doctor [GRAPH] [--json]`: what the spec needs from this machine, with the fixes. */
export function registerDoctor(program: Command, ctx: CommandContext): void {
  program
    .command("doctor")
    .description(
      "check what the spec needs (runtimes, state store, artifact location, writable directories) and print the fix for each problem",
    )
    .argument("[GRAPH]", "check only what this graph's tasks need (default: every graph)")
    .option("--json", "print {ok, checks: [{id, status, message, fix}]} on stdout")
    .action(async (graphName: string | undefined, opts: { json?: boolean }) => {
      const { spec, graphs } = await loadForCommand(ctx);
      const checks = await runChecks(spec, tasksToCheck(spec, graphs, graphName));
      const failed = checks.filter((c) => c.status === "fail").length;
      if (opts.json) {
        ctx.o.out(`${JSON.stringify({ ok: failed === 0, checks }, null, 2)}\n`);
      } else {
        for (const c of checks) {
          const [color, mark] = MARKS[c.status];
          const fix = c.status === "ok" || c.fix === undefined ? "" : ` — ${c.fix}`;
          ctx.o.out(`${paint(ctx.o.color, color, mark)} ${c.message}${fix}\n`);
        }
        ctx.o.out(
          failed === 0
            ? `${paint(ctx.o.color, "green", "ok")}: ready to run\n`
            : `${failed} problem${failed === 1 ? "" : "s"}; fix ${failed === 1 ? "it" : "them"} and run \`dagwright doctor\` again\n`,
        );
      }
      ctx.setExit(failed === 0 ? EXIT.ok : EXIT.environment);
    });
}
