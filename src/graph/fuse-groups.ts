import type { Diagnostic } from "../spec/diagnostic.js";
import type { Compute } from "../spec/types.js";
import { findCycles } from "./find-cycles.js";
import type { Graph, GraphTask } from "./graph.js";
import { topoOrder } from "./topo-order.js";

/**
 * One remote unit of work: a single task, or a group of tasks fused into one pod / job.
 * Plain data, like {@link Graph}.
 */
export interface Unit {
  /** The task's name, or the group's name. Unique among the units of a graph. */
  name: string;
  kind: "task" | "group";
  /** Member tasks in the graph's topological order (one for a task unit). */
  tasks: string[];
  /** Units this one depends on directly (an edge from a member to a task outside), in unit order. */
  deps: string[];
  /**
   * Resources: the task's `compute` over its machine type's; for a group, the largest value of
   * each resource among the members.
   */
  compute: Compute;
  /** The machine type every member that names one agrees on (unset when they disagree). */
  machineType?: string;
}

export interface FuseOptions {
  /** Tags starting with this prefix name a group too: with `argo:`, `tags: [argo:prep]` → `prep`. */
  tagPrefix?: string;
  /** Declared machine types (`config.machine_types`), in normalized units (vCPUs, MiB). */
  machineTypes?: Readonly<Record<string, Compute>>;
}

export interface FuseResult {
  /** Units in a topological order (dependencies first); empty when there are errors. */
  units: Unit[];
  /** Errors (conflicting or cyclic grouping) and warnings (mixed machine types, fan-out in a group). */
  diagnostics: Diagnostic[];
}

const RESOURCES = ["cpu", "memoryMiB", "gpu"] as const;

/**
 * Fuses the tasks of `graph` that share a `group:` (or a tag with `options.tagPrefix`) into one
 * unit each; every other task is a unit of its own. Unit edges are the task edges between units.
 * Rejects a grouping that would make the unit graph cyclic (a path leaves a group and comes back),
 * naming the cycle over units and the task edges that close it; a task put in two groups; and a
 * group named like a task outside it. Warns when a group mixes machine types (it gets the largest
 * of each resource) and when it contains a fan-out task (its items run inside the group's unit).
 * Never throws: every problem is returned as a diagnostic.
 */
export function fuseGroups(graph: Graph, options: FuseOptions = {}): FuseResult {
  const diagnostics: Diagnostic[] = [];
  const error: ReportError = (task, field, message, hint) =>
    diagnostics.push({
      severity: "error",
      kind: "invalid-group",
      path: `tasks.${task.name}.${field}`,
      location: task.spec.location,
      message,
      hint,
    });
  const { groupOf, members } = assignGroups(graph, options.tagPrefix, error);
  const { rank, via, unitDeps } = unitEdges(graph, groupOf);
  const cycles = findCycles(unitDeps);
  for (const cycle of cycles) reportCycle(graph, cycle, members, via, error);

  const ctx: FuseContext = { graph, options, diagnostics, error, members, rank, unitDeps };
  const order = cycles.length > 0 ? [...rank.keys()] : topoOrder(unitDeps, rank);
  const units = order.map((name) => buildUnit(ctx, name));
  return {
    units: diagnostics.some((d) => d.severity === "error") ? [] : units,
    diagnostics,
  };
}

/** Reports an error at a task's field. */
type ReportError = (task: GraphTask, field: string, message: string, hint: string) => void;

/** What building each unit needs: the grouping, the unit edges and where problems go. */
interface FuseContext {
  graph: Graph;
  options: FuseOptions;
  diagnostics: Diagnostic[];
  error: ReportError;
  /** Group → its tasks, in topological order. */
  members: Map<string, string[]>;
  /** Unit → the position of its first task in the graph's order. */
  rank: Map<string, number>;
  /** Unit → the units it depends on. */
  unitDeps: Map<string, string[]>;
}

/**
 * Which group each task is in (by `group:` or a tag with `tagPrefix`), and each group's tasks.
 * Reports a tag naming no group, a task put in two groups and a group named like a task outside it.
 */
function assignGroups(
  graph: Graph,
  tagPrefix: string | undefined,
  error: ReportError,
): { groupOf: Map<string, string>; members: Map<string, string[]> } {
  const groupOf = new Map<string, string>();
  const members = new Map<string, string[]>();
  for (const name of graph.order) {
    const task = graph.tasks[name]!;
    const claims = groupClaims(task, tagPrefix, error);
    const distinct = [...new Set(claims.map((c) => c.group))];
    if (distinct.length > 1) {
      error(
        task,
        "group",
        `task "${name}" is put in ${distinct.length} groups: ${claims.map((c) => `"${c.group}" (${c.via})`).join(", ")}`,
        "a task belongs to one group; keep one `group:` or one group tag",
      );
    }
    const group = distinct[0];
    if (group === undefined) continue;
    groupOf.set(name, group);
    members.set(group, [...(members.get(group) ?? []), name]);
  }
  for (const [group, tasks] of members) {
    const clash = graph.tasks[group];
    if (clash !== undefined && groupOf.get(group) !== group) {
      error(
        graph.tasks[tasks[0]!]!,
        "group",
        `group "${group}" has the same name as task "${group}", which is not in it`,
        `rename the group, or put task "${group}" in it`,
      );
    }
  }
  return { groupOf, members };
}

/** The groups a task names, by `group:` and by tags with `prefix`, each with how it names it. */
function groupClaims(
  task: GraphTask,
  prefix: string | undefined,
  error: ReportError,
): { group: string; via: string }[] {
  const claims: { group: string; via: string }[] = [];
  if (task.spec.group !== undefined) claims.push({ group: task.spec.group, via: "group" });
  if (prefix === undefined || prefix === "") return claims;
  for (const tag of task.spec.tags) {
    if (!tag.startsWith(prefix)) continue;
    const group = tag.slice(prefix.length);
    if (group === "") {
      error(
        task,
        "tags",
        `tag "${tag}" names no group`,
        `write the group after the prefix, e.g. "${prefix}preprocess"`,
      );
    } else claims.push({ group, via: `tag "${tag}"` });
  }
  return claims;
}

/**
 * The units (ranked by their first task in the graph's order), their dependencies, and for each
 * unit → dependency unit the first task edge [dependency task, dependent task] between them.
 */
function unitEdges(graph: Graph, groupOf: Map<string, string>) {
  const unitOf = (task: string) => groupOf.get(task) ?? task;
  const rank = new Map<string, number>();
  for (const [i, name] of graph.order.entries()) {
    const unit = unitOf(name);
    if (!rank.has(unit)) rank.set(unit, i);
  }
  const via = new Map<string, Map<string, [string, string]>>();
  for (const unit of rank.keys()) via.set(unit, new Map());
  for (const name of graph.order) {
    const unit = unitOf(name);
    for (const dep of graph.tasks[name]!.deps) {
      if (graph.tasks[dep] === undefined) continue;
      const depUnit = unitOf(dep);
      const edges = via.get(unit)!;
      if (depUnit !== unit && !edges.has(depUnit)) edges.set(depUnit, [dep, name]);
    }
  }
  const unitDeps = new Map([...via].map(([u, edges]) => [u, [...edges.keys()]]));
  return { rank, via, unitDeps };
}

/** Reports a cycle of units, starting at a group, with the task edges that close it. */
function reportCycle(
  graph: Graph,
  cycle: string[],
  members: Map<string, string[]>,
  via: Map<string, Map<string, [string, string]>>,
  error: ReportError,
): void {
  const loop = cycle.slice(0, -1);
  const start = loop.findIndex((u) => members.has(u));
  const units = [...loop.slice(start), ...loop.slice(0, start)];
  const group = units[0]!;
  // Consecutive units run in order, so each one depends on the one before it.
  const edges = units.map((u, i) => via.get(units[(i + 1) % units.length]!)!.get(u)!);
  let tasks = `${edges[0]![0]} → ${edges[0]![1]}`;
  for (let i = 1; i < edges.length; i++) {
    const [from, to] = edges[i]!;
    tasks += from === edges[i - 1]![1] ? ` → ${to}` : `, ${from} → ${to}`;
  }
  const outside = units.filter((u) => u !== group);
  const inside = [...new Set([edges[0]![0], edges[edges.length - 1]![1]])];
  const first = graph.tasks[members.get(group)![0]!]!;
  error(
    first,
    first.spec.group === group ? "group" : "tags",
    `group "${group}" would depend on itself: ${[...units, group].join(" → ")} (${tasks})`,
    `a path between two tasks of a group must stay inside it: add ${outside.map((u) => `"${u}"`).join(", ")} to group "${group}", or take ${inside.map((t) => `"${t}"`).join(" or ")} out of it`,
  );
}

/** A task's compute over its machine type's; reports a machine type that is not declared. */
function effectiveCompute(ctx: FuseContext, task: GraphTask): Compute {
  const machineTypes = ctx.options.machineTypes;
  const type = task.spec.machineType;
  const declared = type === undefined ? undefined : machineTypes?.[type];
  if (type !== undefined && machineTypes !== undefined && declared === undefined) {
    ctx.error(
      task,
      "machine_type",
      `task "${task.name}" uses machine type "${type}", which is not declared`,
      Object.keys(machineTypes).length > 0
        ? `declared machine types: ${Object.keys(machineTypes).join(", ")}`
        : "declare it under config.machine_types, e.g. {gpu_small: {cpu: 4, memory: 16384, gpu: 1}}",
    );
  }
  return { ...declared, ...task.spec.compute };
}

/** One unit: its tasks, deps and largest compute; warns about mixed machine types and fan-out. */
function buildUnit(ctx: FuseContext, name: string): Unit {
  const { graph, members, rank } = ctx;
  const tasks = members.get(name) ?? [name];
  const compute: Compute = {};
  for (const t of tasks) {
    const c = effectiveCompute(ctx, graph.tasks[t]!);
    for (const r of RESOURCES) {
      const v = c[r];
      if (v !== undefined && (compute[r] === undefined || v > compute[r]!)) compute[r] = v;
    }
  }
  const unit: Unit = {
    name,
    kind: members.has(name) ? "group" : "task",
    tasks,
    deps: [...ctx.unitDeps.get(name)!].sort((a, b) => rank.get(a)! - rank.get(b)!),
    compute,
  };
  const machineType = agreedMachineType(ctx, unit);
  if (machineType !== undefined) unit.machineType = machineType;
  if (unit.kind === "group") warnFanOutInGroup(ctx, unit);
  return unit;
}

/** The machine type every member that names one agrees on; warns when they disagree. */
function agreedMachineType(ctx: FuseContext, unit: Unit): string | undefined {
  const { graph } = ctx;
  const { name, tasks, compute } = unit;
  const types = new Map<string, string[]>();
  for (const t of tasks) {
    const type = graph.tasks[t]!.spec.machineType;
    if (type !== undefined) types.set(type, [...(types.get(type) ?? []), t]);
  }
  if (types.size === 1) return [...types.keys()][0]!;
  if (types.size > 1) {
    const first = graph.tasks[tasks[0]!]!;
    ctx.diagnostics.push({
      severity: "warning",
      kind: "group-machine-types",
      path: `tasks.${first.name}.group`,
      location: first.spec.location,
      message: `group "${name}" mixes machine types: ${[...types].map(([type, ts]) => `${ts.map((t) => `"${t}"`).join(", ")} ${ts.length === 1 ? "uses" : "use"} "${type}"`).join("; ")}; the group gets the largest of each resource (${describeCompute(compute)})`,
      hint: `give the tasks of group "${name}" one machine type, or split the group`,
    });
  }
  return undefined;
}

function warnFanOutInGroup(ctx: FuseContext, unit: Unit): void {
  for (const t of unit.tasks) {
    const task = ctx.graph.tasks[t]!;
    if (task.spec.mapOver === undefined) continue;
    ctx.diagnostics.push({
      severity: "warning",
      kind: "group-fan-out",
      path: `tasks.${t}.map_over`,
      location: task.spec.location,
      message: `fan-out task "${t}" is in group "${unit.name}", so all its items run inside the group's one unit, not one unit per item`,
      hint: `take "${t}" out of group "${unit.name}" to spread its items over units`,
    });
  }
}

/** `cpu 4, memory 16384 MiB, gpu 1` (only the resources that are set; `none` when empty). */
function describeCompute(c: Compute): string {
  const parts: string[] = [];
  if (c.cpu !== undefined) parts.push(`cpu ${c.cpu}`);
  if (c.memoryMiB !== undefined) parts.push(`memory ${c.memoryMiB} MiB`);
  if (c.gpu !== undefined) parts.push(`gpu ${c.gpu}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}
