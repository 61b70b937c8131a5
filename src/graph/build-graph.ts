import type { Diagnostic, SourceLocation } from "../spec/diagnostic.js";
import { didYouMean } from "../spec/did-you-mean.js";
import { SpecError, UsageError } from "../spec/errors.js";
import type { BrokenParts } from "../spec/load-spec.js";
import { isRefArg, type Spec } from "../spec/types.js";

const NONE_BROKEN: BrokenParts = { tasks: new Set(), graphs: new Set() };

/** Broken parts plus whether this graph inherits from a broken one (so its edges are partial). */
interface Broken extends BrokenParts {
  incomplete: boolean;
}

import { findCycles } from "./find-cycles.js";
import type { Graph, GraphTask } from "./graph.js";
import { topoOrder } from "./topo-order.js";

interface FlatEntry {
  task: string;
  deps: string[];
  args: Record<string, unknown>;
  location: SourceLocation;
  /** The graph that declares this entry (differs from the built graph when inherited). */
  declaredIn: string;
}

/**
 * kptn's `_flatten_graph`: parents first, in order; the first occurrence of a task name wins;
 * `extends[].args` merge over the inherited entry's args; the graph's own tasks come last.
 */
function flatten(
  spec: Spec,
  name: string,
  chain: string[],
  diagnostics: Diagnostic[],
  reported: Set<string>,
  broken: Broken,
): FlatEntry[] {
  const graph = spec.graphs[name];
  if (graph === undefined) {
    broken.incomplete = true; // a graph with shape errors, already reported
    return [];
  }
  const result = new Map<string, FlatEntry>();
  for (const ext of graph.extends) {
    if (ext.graph === name || chain.includes(ext.graph)) {
      // Rotate the loop to start at its alphabetically first graph, so every graph on it reports
      // the same message at the same place (deduplicated by checkAllGraphs).
      const loop = [...chain.slice(chain.indexOf(ext.graph)), name];
      const start = loop.indexOf([...loop].sort()[0]!);
      const cycle = [...loop.slice(start), ...loop.slice(0, start)];
      const key = cycle.join(",");
      if (!reported.has(key)) {
        reported.add(key);
        const from = cycle[0]!;
        const to = cycle[1 % cycle.length]!;
        const at = spec.graphs[from]!.extends.find((e) => e.graph === to)!;
        diagnostics.push({
          severity: "error",
          kind: "extends-cycle",
          path: `graphs.${from}.extends`,
          location: at.location,
          message: `graphs inherit from each other in a cycle: ${[...cycle, from].join(" → ")}`,
          hint: `remove "${to}" from the extends of "${from}" (or break the chain elsewhere)`,
        });
      }
      continue;
    }
    if (broken.graphs.has(ext.graph)) {
      broken.incomplete = true;
      continue;
    }
    if (spec.graphs[ext.graph] === undefined) {
      diagnostics.push({
        severity: "error",
        kind: "unknown-graph",
        path: `graphs.${name}.extends`,
        location: ext.location,
        message:
          `extends unknown graph "${ext.graph}".${didYouMean(ext.graph, Object.keys(spec.graphs))}`.replace(
            /\.$/,
            "",
          ),
        hint: `graphs in this spec: ${Object.keys(spec.graphs).join(", ")}`,
      });
      continue;
    }
    for (const entry of flatten(spec, ext.graph, [...chain, name], diagnostics, reported, broken)) {
      if (result.has(entry.task)) continue;
      const override = ext.args[entry.task];
      result.set(entry.task, override ? { ...entry, args: { ...entry.args, ...override } } : entry);
    }
    for (const task of Object.keys(ext.args)) {
      if (!result.has(task)) {
        diagnostics.push({
          severity: "error",
          kind: "unknown-task",
          path: `graphs.${name}.extends`,
          location: ext.location,
          message: `extends "${ext.graph}" with args for task "${task}", which that graph does not contain`,
          hint: "args overrides apply only to tasks of the extended graph",
        });
      }
    }
  }
  for (const e of graph.entries) {
    const inherited = result.get(e.task);
    if (inherited !== undefined && inherited.declaredIn !== name) {
      warnIgnoredDeps(name, e, inherited, diagnostics);
      continue;
    }
    if (!result.has(e.task))
      result.set(e.task, {
        task: e.task,
        deps: e.deps,
        args: e.args,
        location: e.location,
        declaredIn: name,
      });
  }
  return [...result.values()];
}

/**
 * kptn keeps the first declaration of a task in an inheritance chain, so a child graph's entry
 * for an inherited task is ignored: say so when its dependencies differ, since its edges are lost.
 */
function warnIgnoredDeps(
  graph: string,
  entry: { task: string; deps: string[]; location: SourceLocation },
  inherited: FlatEntry,
  diagnostics: Diagnostic[],
): void {
  const same = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && [...a].sort().every((d, i) => d === [...b].sort()[i]);
  if (same(entry.deps, inherited.deps)) return;
  const list = (deps: readonly string[]) => (deps.length === 0 ? "none" : deps.join(", "));
  diagnostics.push({
    severity: "warning",
    kind: "ignored-dependencies",
    path: `graphs.${graph}.tasks.${entry.task}`,
    location: entry.location,
    message: `task "${entry.task}" is inherited from graph "${inherited.declaredIn}" with dependencies ${list(inherited.deps)}; these (${list(entry.deps)}) are ignored: the first declaration wins`,
    hint: `change the dependencies in "${inherited.declaredIn}", or remove "${entry.task}" from this graph's tasks`,
  });
}

/**
 * Resolves graph `name` of `spec` and checks it: tasks without a definition, unknown and self
 * dependencies, cycles (with the full path), `map_over` without a matching `iterable_item`, and
 * `{ref: dep}` args that do not name a dependency. Every problem is pushed to `diagnostics`;
 * the graph is returned only when it has none.
 */
export function checkGraph(
  spec: Spec,
  name: string,
  diagnostics: Diagnostic[],
  broken: BrokenParts = NONE_BROKEN,
): Graph | undefined {
  const before = diagnostics.length;
  const state: Broken = { ...broken, incomplete: false };
  const entries = flatten(spec, name, [], diagnostics, new Set(), state);
  const err: EntryError = (kind, entry, message, hint) =>
    diagnostics.push({
      severity: "error",
      kind,
      path: `graphs.${entry.declaredIn}.tasks.${entry.task}`,
      location: entry.location,
      message,
      ...(hint ? { hint } : {}),
    });
  const ctx: CheckContext = { spec, name, broken: state, entries, err };

  const { tasks, deps, rank } = resolveTasks(ctx);
  for (const cycle of findCycles(deps)) {
    const first = entries.find((e) => e.task === cycle[0])!;
    err(
      "cycle",
      first,
      `cycle: ${cycle.join(" → ")}`,
      `each task in the cycle waits for the one before it; remove one of these dependencies`,
    );
  }
  for (const entry of entries) {
    const task = tasks[entry.task];
    if (!task) continue;
    checkMapOver(ctx, entry, task, tasks);
    checkRefArgs(ctx, entry, task);
  }

  // A graph with problems, or with a task whose own definition is broken, is not built.
  const errors = diagnostics.slice(before).some((d) => d.severity === "error");
  if (errors || entries.some((e) => tasks[e.task] === undefined)) return undefined;
  const order = topoOrder(deps, rank);
  const dependents: Record<string, string[]> = Object.fromEntries(
    order.map((t) => [t, [] as string[]]),
  );
  for (const t of order) for (const d of tasks[t]!.deps) dependents[d]!.push(t);
  return { name, tasks, order, dependents };
}

/** Reports an error at a graph entry. */
type EntryError = (kind: string, entry: FlatEntry, message: string, hint?: string) => void;

/** What checking one graph shares. */
interface CheckContext {
  spec: Spec;
  /** The graph being checked. */
  name: string;
  broken: Broken;
  /** The graph's entries, flattened over `extends`. */
  entries: FlatEntry[];
  err: EntryError;
}

/**
 * The graph's tasks (entries whose task is defined), their dependencies within the graph and
 * their rank (entry order). Reports undefined tasks, self and unknown dependencies.
 */
function resolveTasks(ctx: CheckContext): {
  tasks: Record<string, GraphTask>;
  deps: Map<string, string[]>;
  rank: Map<string, number>;
} {
  const { spec, name, broken, entries, err } = ctx;
  const inGraph = new Set(entries.map((e) => e.task));
  const tasks: Record<string, GraphTask> = {};
  const deps = new Map<string, string[]>();
  const rank = new Map<string, number>();
  for (const [i, entry] of entries.entries()) {
    rank.set(entry.task, i);
    const spec_ = spec.tasks[entry.task];
    if (spec_ === undefined && !broken.tasks.has(entry.task)) {
      err(
        "undefined-task",
        entry,
        `graph "${name}" lists task "${entry.task}", which is not defined under tasks.${didYouMean(entry.task, Object.keys(spec.tasks))}`.replace(
          /\.$/,
          "",
        ),
        `add \`tasks: {${entry.task}: {file: ...}}\`, or fix the name`,
      );
    }
    const unique = [...new Set(entry.deps)];
    checkDeps(ctx, entry, unique, inGraph);
    deps.set(
      entry.task,
      unique.filter((d) => d !== entry.task && inGraph.has(d)),
    );
    if (spec_ !== undefined) {
      tasks[entry.task] = {
        name: entry.task,
        spec: spec_,
        deps: unique,
        args: { ...spec_.args, ...entry.args },
        location: entry.location,
      };
    }
  }
  return { tasks, deps, rank };
}

/** Reports a task depending on itself, or on a task outside the graph (unless it is partial). */
function checkDeps(ctx: CheckContext, entry: FlatEntry, unique: string[], inGraph: Set<string>) {
  const { spec, name, err } = ctx;
  const names = ctx.entries.map((e) => e.task);
  for (const dep of unique) {
    if (dep === entry.task) {
      err(
        "self-dependency",
        entry,
        `task "${dep}" depends on itself`,
        "remove it from its own dependency list",
      );
    } else if (!inGraph.has(dep) && !ctx.broken.incomplete) {
      const elsewhere = spec.tasks[dep] !== undefined;
      err(
        "unknown-dependency",
        entry,
        `depends on unknown task "${dep}".${didYouMean(dep, names)}`.replace(/\.$/, ""),
        elsewhere
          ? `"${dep}" is defined under tasks but not part of graph "${name}"; add it to graphs.${name}.tasks`
          : `tasks in graph "${name}": ${names.join(", ")}`,
      );
    }
  }
}

/** Reports a `map_over` that no direct dependency produces (unless a dependency is broken). */
function checkMapOver(
  ctx: CheckContext,
  entry: FlatEntry,
  task: GraphTask,
  tasks: Record<string, GraphTask>,
): void {
  if (task.spec.mapOver === undefined || task.deps.some((d) => ctx.broken.tasks.has(d))) return;
  const direct = task.deps.filter((d) => tasks[d] !== undefined);
  const wanted = task.spec.mapOver.join(",");
  const producer = direct.find((d) => tasks[d]!.spec.iterableItem?.join(",") === wanted);
  if (producer !== undefined) return;
  const offered = direct
    .map((d) => tasks[d]!.spec.iterableItem?.join(","))
    .filter((x): x is string => x !== undefined);
  ctx.err(
    "map-over-unmatched",
    entry,
    `map_over "${wanted}" is not produced by any dependency with iterable_item "${wanted}"`,
    offered.length > 0
      ? `dependencies of "${entry.task}" offer iterable_item ${offered.map((o) => `"${o}"`).join(", ")}${didYouMean(wanted, offered)}`
      : `add a dependency with \`cache_result: true\` and \`iterable_item: ${wanted}\``,
  );
}

/** Reports `{ref: x}` args where `x` is not a dependency of the task. */
function checkRefArgs(ctx: CheckContext, entry: FlatEntry, task: GraphTask): void {
  for (const [argName, value] of Object.entries(task.args)) {
    if (isRefArg(value) && !task.deps.includes(value.ref)) {
      ctx.err(
        "ref-not-dependency",
        entry,
        `args.${argName} refers to "${value.ref}", which is not a dependency of "${entry.task}".${didYouMean(value.ref, task.deps)}`.replace(
          /\.$/,
          "",
        ),
        `add "${value.ref}" to the dependencies of "${entry.task}" in graph "${ctx.name}"`,
      );
    }
  }
}

/** Every graph of the spec checked; duplicate diagnostics (from shared parents) reported once. */
export function checkAllGraphs(
  spec: Spec,
  broken: BrokenParts = NONE_BROKEN,
): { graphs: Record<string, Graph>; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const graphs: Record<string, Graph> = {};
  for (const name of Object.keys(spec.graphs)) {
    const g = checkGraph(spec, name, diagnostics, broken);
    if (g) graphs[name] = g;
  }
  const seen = new Set<string>();
  const unique = diagnostics.filter((d) => {
    const key = `${d.location?.line}:${d.location?.column}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { graphs, diagnostics: unique };
}

/**
 * Picks the graph to work on: the one named, or the only one. Throws {@link UsageError} for an
 * unknown name (with "did you mean") or when a choice is needed, and {@link SpecError} when the
 * chosen graph has problems.
 */
export function buildGraph(spec: Spec, name?: string): Graph {
  const names = Object.keys(spec.graphs);
  let chosen = name;
  if (chosen === undefined) {
    if (names.length !== 1) {
      throw new UsageError(
        `this spec has ${names.length} graphs; say which one`,
        `graphs: ${names.join(", ")}`,
      );
    }
    chosen = names[0]!;
  }
  if (spec.graphs[chosen] === undefined) {
    throw new UsageError(
      `unknown graph "${chosen}".${didYouMean(chosen, names)}`.replace(/\.$/, ""),
      `graphs in this spec: ${names.join(", ")}`,
    );
  }
  const diagnostics: Diagnostic[] = [];
  const graph = checkGraph(spec, chosen, diagnostics);
  if (graph === undefined) throw new SpecError(diagnostics);
  return graph;
}
