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

/**
 * Fields an object of some kind always has, with their defaults: left out of the cache when
 * equal. `fill` puts them back on a parsed object, in place, one by one: this runs for every task
 * of every run, mostly before the JIT warmed up (spreading into new objects cost ~7 ms on 1,000
 * tasks). `defaults` is the same list as an object (a new one each call), for writing the cache.
 */
interface Shape {
  defaults: () => Record<string, unknown>;
  fill: (t: Record<string, unknown>) => void;
}

/** TaskSpec's required fields with defaults. */
const TASK: Shape = {
  defaults: () => ({
    outputs: [],
    inPlaceOutputs: [],
    inputs: [],
    args: {},
    cacheResult: false,
    cache: true,
    compute: {},
    tags: [],
    retries: 0,
    env: {},
    secrets: [],
  }),
  fill: (t) => {
    if (t.outputs === undefined) t.outputs = [];
    if (t.inPlaceOutputs === undefined) t.inPlaceOutputs = [];
    if (t.inputs === undefined) t.inputs = [];
    if (t.args === undefined) t.args = {};
    if (t.cacheResult === undefined) t.cacheResult = false;
    if (t.cache === undefined) t.cache = true;
    if (t.compute === undefined) t.compute = {};
    if (t.tags === undefined) t.tags = [];
    if (t.retries === undefined) t.retries = 0;
    if (t.env === undefined) t.env = {};
    if (t.secrets === undefined) t.secrets = [];
  },
};

/** GraphTask's (its spec aside). */
const GRAPH_TASK: Shape = {
  defaults: () => ({ args: {} }),
  fill: (t) => {
    if (t.args === undefined) t.args = {};
  },
};

/** A value kept as it is, when leaving fields out would not give it back exactly. */
interface Verbatim {
  "=": unknown;
}

type Stored = Record<string, unknown> | Verbatim;

/** JSON's copy of `value` (what the cache file gives back, without fields left out). */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** `stored` with its name and the fields left out put back (in place: it is JSON's fresh copy). */
function restore<T>(stored: Stored, name: string, shape: Shape): T {
  if ("=" in stored) return stored["="] as T;
  const t = stored as Record<string, unknown>;
  t.name = name;
  shape.fill(t);
  return t as T;
}

function compact(value: object, name: string, shape: Shape): Stored {
  const full = plain(value) as Record<string, unknown>;
  const known = shape.defaults();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(full)) {
    if (k === "name" && v === name) continue;
    if (k in known && JSON.stringify(v) === JSON.stringify(known[k])) continue;
    out[k] = v;
  }
  // Read back as it would be (`fill` agreeing with `defaults`), or kept verbatim.
  return isDeepStrictEqual(restore(plain(out), name, shape), full) ? out : { "=": full };
}

/** The cache file's form of `loaded` (for JSON.stringify). */
export function encodeLoaded(loaded: Loaded): unknown {
  const { spec } = loaded;
  const tasks: Record<string, Stored> = {};
  for (const [name, t] of Object.entries(spec.tasks)) tasks[name] = compact(t, name, TASK);
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
      gtasks[t] = taskSpec === spec.tasks[t] ? compact(rest, t, GRAPH_TASK) : { "=": plain(gt) };
    }
    graphs[name] = { ...g, tasks: gtasks };
  }
  return { spec: { ...spec, tasks, graphs: specGraphs }, graphs };
}

/** `loaded` back from {@link encodeLoaded}'s form, as JSON.parse gave it (reused in place). */
export function decodeLoaded(stored: unknown): Loaded {
  const { spec, graphs } = stored as {
    spec: { tasks: Record<string, Stored>; graphs: Record<string, object> };
    graphs: Record<string, { tasks: Record<string, Stored> }>;
  };
  const tasks = spec.tasks;
  for (const name in tasks) tasks[name] = restore(tasks[name]!, name, TASK);
  for (const name in spec.graphs) {
    Object.defineProperty(spec.graphs[name], "entries", {
      enumerable: false,
      get() {
        throw new DagwrightError(
          "E_INTERNAL",
          `graph ${name}'s entries were read from the spec cache, which does not keep them`,
        );
      },
    });
  }
  for (const name in graphs) {
    const gtasks = graphs[name]!.tasks;
    for (const t in gtasks) {
      const task = restore<GraphTask>(gtasks[t]!, t, GRAPH_TASK);
      task.spec ??= tasks[t] as unknown as TaskSpec;
      gtasks[t] = task as unknown as Stored;
    }
  }
  return { spec, graphs } as unknown as Loaded;
}
