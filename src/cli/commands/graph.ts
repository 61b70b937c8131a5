import { type Command, Option } from "commander";
import { buildGraph } from "../../graph/build-graph.js";
import { drawGraph, type GraphFormat } from "../../graph/draw-graph.js";
import { selectTasks } from "../../graph/select-tasks.js";
import type { CommandContext } from "../context.js";
import { collectList, loadForCommand } from "../load.js";

interface GraphOptions {
  format: GraphFormat;
  only?: string[];
  from?: string[];
  to?: string[];
  tags?: string[];
}

export function registerGraph(program: Command, ctx: CommandContext): void {
  program
    .command("graph")
    .description("print a graph's tasks and edges in topological order")
    .argument("[GRAPH]", "graph name (optional when the spec has one graph)")
    .addOption(
      new Option("--format <FORMAT>", "output format")
        .choices(["mermaid", "dot", "json"])
        .default("mermaid"),
    )
    .option("--only <TASKS>", "only these tasks (comma-separated, repeatable)", collectList)
    .option("--from <TASKS>", "these tasks and everything downstream", collectList)
    .option("--to <TASKS>", "these tasks and everything upstream", collectList)
    .option("--tags <TAGS>", "tasks with any of these tags", collectList)
    .action(async (name: string | undefined, opts: GraphOptions) => {
      const { spec } = await loadForCommand(ctx);
      const graph = buildGraph(spec, name);
      const tasks = selectTasks(graph, opts);
      ctx.o.out(drawGraph(graph, opts.format, tasks));
    });
}
