import type { Graph } from "./graph.js";

/** Output formats of `dagwright graph`. */
export type GraphFormat = "mermaid" | "dot" | "json";

function mermaidLabel(s: string): string {
  // Mermaid labels in "..." accept HTML entities; quotes and angle brackets must be escaped.
  return s.replace(/[&"<>#]/g, (c) => `#${c.charCodeAt(0)};`);
}

function dotString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * Draws `graph` (restricted to `tasks`, in order) as Mermaid, Graphviz DOT or JSON. Node ids are
 * generated (`t0`, `t1`...) and names go only into escaped labels, so any task name is safe.
 */
export function drawGraph(
  graph: Graph,
  format: GraphFormat,
  tasks: readonly string[] = graph.order,
): string {
  const included = new Set(tasks);
  const id = new Map(tasks.map((t, i) => [t, `t${i}`]));
  if (format === "json") {
    const nodes = tasks.map((t) => {
      const task = graph.tasks[t]!;
      return {
        name: t,
        kind: task.spec.kind,
        deps: task.deps.filter((d) => included.has(d)),
        ...(task.spec.file ? { file: task.spec.file } : {}),
        ...(task.spec.mapOver ? { map_over: task.spec.mapOver.join(",") } : {}),
        ...(task.spec.group ? { group: task.spec.group } : {}),
        tags: task.spec.tags,
      };
    });
    return `${JSON.stringify({ graph: graph.name, order: tasks, tasks: nodes }, null, 2)}\n`;
  }
  const lines: string[] = [];
  if (format === "mermaid") {
    lines.push("flowchart TD");
    for (const t of tasks) {
      const mapped = graph.tasks[t]!.spec.mapOver ? " [map]" : "";
      lines.push(`  ${id.get(t)}["${mermaidLabel(t + mapped)}"]`);
    }
    for (const t of tasks)
      for (const d of graph.tasks[t]!.deps)
        if (included.has(d)) lines.push(`  ${id.get(d)} --> ${id.get(t)}`);
  } else {
    lines.push(`digraph ${dotString(graph.name)} {`, "  rankdir=LR;", "  node [shape=box];");
    for (const t of tasks) lines.push(`  ${id.get(t)} [label=${dotString(t)}];`);
    for (const t of tasks)
      for (const d of graph.tasks[t]!.deps)
        if (included.has(d)) lines.push(`  ${id.get(d)} -> ${id.get(t)};`);
    lines.push("}");
  }
  return `${lines.join("\n")}\n`;
}
