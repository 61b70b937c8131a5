// The form in which a validated spec and its graphs are kept in `.dagwright/spec-cache.json`
// (see loadForCommand in load.ts). Every `run` of a large graph parses it, so it holds each thing
// once and leaves out what is known: a graph task's spec (it is `spec.tasks[name]`), names (they
// are the keys), fields at their defaults (put back on reading), and the graphs' entries, which
// only building a graph reads (the built graphs are in the cache).
import { isDeepStrictEqual } from "node:util";
import type { Graph, GraphTask } from "../graph/graph.js";
import { DagwrightError } from "../spec/errors.js";
import type { Spec, TaskSpec } from "../spec/types.js";

/** The spec and all its graphs. */
export interface Loaded {
  spec: Spec;
  graphs: Record<string, Graph>;
}

/** Fields every TaskSpec has, at their defaults: left out when equal. A new object each call. */
const taskDefaults = () => ({
  outputs: [],
  inputs: [],
  args: {},
  cacheResult: false,
  cache: true,
  compute: {},
  tags: [],
  retries: 0,
  env: {},
  secrets: [],
});
const graphTaskDefaults = () => ({ args: {} });

/** A value kept as it is, when leaving fields out would not give it back exactly. */
interface Verbatim {
  "=": unknown;
}

type Stored = Record<string, unknown> | Verbatim;

/** JSON's copy of `value` (what the cache file gives back, without fields left out). */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function restore<T>(stored: Stored, name: string, defaults: () => object): T {
  if ("=" in stored) return stored["="] as T;
  return { name, ...defaults(), ...stored } as T;
}

function compact(value: object, name: string, defaults: () => object): Stored {
  const full = plain(value) as Record<string, unknown>;
  const known = defaults() as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(full)) {
    if (k === "name" && v === name) continue;
    if (k in known && JSON.stringify(v) === JSON.stringify(known[k])) continue;
    out[k] = v;
  }
  // Read back as it would be: anything else (a field the type does not require) stays verbatim.
  return isDeepStrictEqual(restore(plain(out), name, defaults), full) ? out : { "=": full };
}

/** The cache file's form of `loaded` (for JSON.stringify). */
export function encodeLoaded(loaded: Loaded): unknown {
  const { spec } = loaded;
  const tasks: Record<string, Stored> = {};
  for (const [name, t] of Object.entries(spec.tasks)) tasks[name] = compact(t, name, taskDefaults);
  const specGraphs: Record<string, unknown> = {};
  for (const [name, g] of Object.entries(spec.graphs)) {
    // A graph that did not build (never cached: the cache is written only for a clean spec)
    // would need its entries.
    if (loaded.graphs[name] === undefined) throw new Error(`graph ${name} was not built`);
    const { entries: _entries, ...rest } = g;
    specGraphs[name] = rest;
  }
  const graphs: Record<string, unknown> = {};
  for (const [name, g] of Object.entries(loaded.graphs)) {
    const gtasks: Record<string, Stored> = {};
    for (const [t, gt] of Object.entries(g.tasks)) {
      const { spec: taskSpec, ...rest } = gt;
      gtasks[t] =
        taskSpec === spec.tasks[t] ? compact(rest, t, graphTaskDefaults) : { "=": plain(gt) };
    }
    graphs[name] = { ...g, tasks: gtasks };
  }
  return { spec: { ...spec, tasks, graphs: specGraphs }, graphs };
}

/** `loaded` back from {@link encodeLoaded}'s form, as JSON.parse gave it. */
export function decodeLoaded(stored: unknown): Loaded {
  const { spec, graphs } = stored as {
    spec: Omit<Spec, "tasks"> & { tasks: Record<string, Stored> };
    graphs: Record<string, Omit<Graph, "tasks"> & { tasks: Record<string, Stored> }>;
  };
  const tasks: Record<string, TaskSpec> = {};
  for (const [name, t] of Object.entries(spec.tasks))
    tasks[name] = restore<TaskSpec>(t, name, taskDefaults);
  for (const [name, g] of Object.entries(spec.graphs)) {
    Object.defineProperty(g, "entries", {
      enumerable: false,
      get() {
        throw new DagwrightError(
          "E_INTERNAL",
          `graph ${name}'s entries were read from the spec cache, which does not keep them`,
        );
      },
    });
  }
  const built: Record<string, Graph> = {};
  for (const [name, g] of Object.entries(graphs)) {
    const gtasks: Record<string, GraphTask> = {};
    for (const [t, gt] of Object.entries(g.tasks)) {
      const task = restore<GraphTask>(gt, t, graphTaskDefaults);
      task.spec ??= tasks[t]!;
      gtasks[t] = task;
    }
    built[name] = { ...g, tasks: gtasks } as Graph;
  }
  return { spec: { ...spec, tasks } as Spec, graphs: built };
}
