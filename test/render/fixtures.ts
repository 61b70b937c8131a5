import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import type { Graph, GraphTask } from "../../src/graph/graph.js";
import { topoOrder } from "../../src/graph/topo-order.js";
import type { Settings, Spec, TaskSpec } from "../../src/spec/types.js";
import { makeTask, REPO } from "../helpers.js";

const loc = { file: "dagwright.yaml", line: 1, column: 1 };

/** A command task with defaults, overridden by `over`. */
export function taskSpec(name: string, over: Partial<TaskSpec> = {}): TaskSpec {
  return makeTask({ name, kind: "command", command: { argv: ["true"] }, ...over });
}

/**
 * A graph built directly (no spec validation, so any names work): `adjacency` maps each task to
 * its dependencies, in declaration order; `tasks` overrides task fields.
 */
export function graphOf(
  name: string,
  adjacency: Record<string, string[]>,
  tasks: Record<string, Partial<TaskSpec>> = {},
): Graph {
  const names = Object.keys(adjacency);
  const deps = new Map(names.map((n) => [n, adjacency[n]!]));
  const order = topoOrder(deps, new Map(names.map((n, i) => [n, i])));
  const graphTasks: Record<string, GraphTask> = {};
  for (const n of names) {
    const spec = taskSpec(n, tasks[n]);
    graphTasks[n] = { name: n, spec, deps: adjacency[n]!, args: spec.args, location: loc };
  }
  const dependents: Record<string, string[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of order) for (const d of adjacency[n]!) dependents[d]!.push(n);
  return { name, tasks: graphTasks, order, dependents };
}

/** A spec holding `graph`'s tasks, with settings overridden by `settings`. */
export function specFor(
  graph: Graph,
  settings: Partial<Settings> = {},
  environments: Spec["environments"] = {},
): Spec {
  return {
    file: "/p/dagwright.yaml",
    root: "/p",
    format: "dagwright",
    outputsBase: "root",
    settings: {
      name: "p",
      scratchDir: "scratch",
      pyTasksDirs: [],
      rTasksDirs: [],
      raw: {},
      dockerImage: "registry.example/p:1",
      ...settings,
    },
    config: {},
    environments,
    graphs: {},
    tasks: Object.fromEntries(Object.values(graph.tasks).map((t) => [t.name, t.spec])),
  };
}

/** A parsed manifest, typed loosely for assertions. */
export interface ManifestYaml {
  metadata: { generateName?: string; name?: string };
  spec: { templates: TemplateYaml[] };
}

export interface EnvVarYaml {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface TemplateYaml {
  name: string;
  inputs?: { parameters: { name: string }[] };
  container?: {
    image: string;
    command: string[];
    args: string[];
    env: EnvVarYaml[];
    resources?: { requests: Record<string, string>; limits: Record<string, string> };
    volumeMounts?: unknown[];
  };
  dag?: { tasks: { name: string; template: string; dependencies?: string[] }[] };
  parallelism?: number;
  tolerations?: unknown[];
  retryStrategy?: unknown;
  activeDeadlineSeconds?: number;
  sidecars?: { name: string }[];
  volumes?: unknown[];
}

/** The template called `name` (throws when there is none). */
export function templateNamed(m: ManifestYaml, name: string): TemplateYaml {
  const t = m.spec.templates.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no template "${name}"`);
  return t;
}

/** Where the golden files of the renderers are. */
export const GOLDEN = path.join(REPO, "test", "render", "golden");

/** Compares with test/render/golden/NAME (rewrites it with UPDATE_GOLDEN=1). */
export function expectGolden(name: string, text: string): void {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  expect(existsSync(file), `${file} is missing; run with UPDATE_GOLDEN=1`).toBe(true);
  expect(text, `differs from ${name}; review, then run with UPDATE_GOLDEN=1`).toBe(
    readFileSync(file, "utf8"),
  );
}
