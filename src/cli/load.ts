import { checkAllGraphs } from "../graph/build-graph.js";
import type { Graph } from "../graph/graph.js";
import { SpecError } from "../spec/errors.js";
import { loadSpecWithDiagnostics, sortDiagnostics } from "../spec/load-spec.js";
import type { Spec } from "../spec/types.js";
import type { CommandContext } from "./context.js";
import { printDiagnostics } from "./output.js";

/** The spec and all its graphs, or a thrown {@link SpecError} with every problem. */
export interface Loaded {
  spec: Spec;
  graphs: Record<string, Graph>;
}

/** Loads and fully validates the spec for a command; prints warnings, throws on errors. */
export function loadForCommand(ctx: CommandContext): Loaded {
  const file = ctx.globals().file;
  const result = loadSpecWithDiagnostics(file === undefined ? {} : { file });
  const diagnostics = [...result.diagnostics];
  let graphs: Record<string, Graph> = {};
  if (result.spec) {
    const checked = checkAllGraphs(result.spec, result.broken);
    diagnostics.push(...checked.diagnostics);
    graphs = checked.graphs;
  }
  const sorted = sortDiagnostics(diagnostics);
  if (!result.spec || sorted.some((d) => d.severity === "error")) throw new SpecError(sorted);
  printDiagnostics(ctx.o, sorted);
  return { spec: result.spec, graphs };
}

/** Splits repeatable, comma-separated flag values: `--only a,b --only c` → [a, b, c]. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  ];
}
