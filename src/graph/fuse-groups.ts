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
  const error = (task: GraphTask, field: string, message: string, hint: string) =>
    diagnostics.push({
      severity: "error",
      kind: "invalid-group",
      path: `tasks.${task.name}.${field}`,
      location: task.spec.location,
      message,
      hint,
    });

  // Which group each task is in.
  const groupOf = new Map<string, string>();
  const members = new Map<string, string[]>();
  for (const name of graph.order) {
    const task = graph.tasks[name]!;
    const claims: { group: string; via: string }[] = [];
    if (task.spec.group !== undefined) claims.push({ group: task.spec.group, via: "group" });
    const prefix = options.tagPrefix;
    if (prefix !== undefined && prefix !== "") {
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
    }
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

  const unitOf = (task: string) => groupOf.get(task) ?? task;
  const rank = new Map<string, number>();
  for (const [i, name] of graph.order.entries()) {
    const unit = unitOf(name);
    if (!rank.has(unit)) rank.set(unit, i);
  }
  // unit → dependency unit → the first task edge [dependency task, dependent task] between them.
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

  const cycles = findCycles(unitDeps);
  for (const cycle of cycles) {
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
    error(
      graph.tasks[members.get(group)![0]!]!,
      "group",
      `group "${group}" would depend on itself: ${[...units, group].join(" → ")} (${tasks})`,
      `a path between two tasks of a group must stay inside it: add ${outside.map((u) => `"${u}"`).join(", ")} to group "${group}", or take ${inside.map((t) => `"${t}"`).join(" or ")} out of it`,
    );
  }

  const effective = (task: GraphTask): Compute => {
    const type = task.spec.machineType;
    const declared = type === undefined ? undefined : options.machineTypes?.[type];
    if (type !== undefined && options.machineTypes !== undefined && declared === undefined) {
      error(
        task,
        "machine_type",
        `task "${task.name}" uses machine type "${type}", which is not declared`,
        Object.keys(options.machineTypes).length > 0
          ? `declared machine types: ${Object.keys(options.machineTypes).join(", ")}`
          : "declare it under config.machine_types, e.g. {gpu_small: {cpu: 4, memory: 16384, gpu: 1}}",
      );
    }
    return { ...declared, ...task.spec.compute };
  };

  const units: Unit[] = [];
  const order = cycles.length > 0 ? [...rank.keys()] : topoOrder(unitDeps, rank);
  for (const name of order) {
    const tasks = members.get(name) ?? [name];
    const compute: Compute = {};
    for (const t of tasks) {
      const c = effective(graph.tasks[t]!);
      for (const r of RESOURCES) {
        const v = c[r];
        if (v !== undefined && (compute[r] === undefined || v > compute[r]!)) compute[r] = v;
      }
    }
    const unit: Unit = {
      name,
      kind: members.has(name) ? "group" : "task",
      tasks,
      deps: [...unitDeps.get(name)!].sort((a, b) => rank.get(a)! - rank.get(b)!),
      compute,
    };
    const types = new Map<string, string[]>();
    for (const t of tasks) {
      const type = graph.tasks[t]!.spec.machineType;
      if (type !== undefined) types.set(type, [...(types.get(type) ?? []), t]);
    }
    if (types.size === 1) unit.machineType = [...types.keys()][0]!;
    if (types.size > 1) {
      const first = graph.tasks[tasks[0]!]!;
      diagnostics.push({
        severity: "warning",
        kind: "group-machine-types",
        path: `tasks.${first.name}.group`,
        location: first.spec.location,
        message: `group "${name}" mixes machine types: ${[...types].map(([type, ts]) => `${ts.map((t) => `"${t}"`).join(", ")} ${ts.length === 1 ? "uses" : "use"} "${type}"`).join("; ")}; the group gets the largest of each resource (${describeCompute(compute)})`,
        hint: `give the tasks of group "${name}" one machine type, or split the group`,
      });
    }
    if (unit.kind === "group") {
      for (const t of tasks) {
        const task = graph.tasks[t]!;
        if (task.spec.mapOver === undefined) continue;
        diagnostics.push({
          severity: "warning",
          kind: "group-fan-out",
          path: `tasks.${t}.map_over`,
          location: task.spec.location,
          message: `fan-out task "${t}" is in group "${name}", so all its items run inside the group's one unit, not one unit per item`,
          hint: `take "${t}" out of group "${name}" to spread its items over units`,
        });
      }
    }
    units.push(unit);
  }
  return {
    units: diagnostics.some((d) => d.severity === "error") ? [] : units,
    diagnostics,
  };
}

/** `cpu 4, memory 16384 MiB, gpu 1` (only the resources that are set; `none` when empty). */
function describeCompute(c: Compute): string {
  const parts: string[] = [];
  if (c.cpu !== undefined) parts.push(`cpu ${c.cpu}`);
  if (c.memoryMiB !== undefined) parts.push(`memory ${c.memoryMiB} MiB`);
  if (c.gpu !== undefined) parts.push(`gpu ${c.gpu}`);
  return parts.length > 0 ? parts.join(", ") : "none";
}
