import type { Graph } from "../graph/graph.js";
import type { Spec } from "../spec/types.js";

/**
 * What every target's renderer receives: the validated spec, one graph, the graph's resolved
 * config (`resolveConfig`) and the target's own options.
 */
export interface RenderInput<Options> {
  spec: Spec;
  graph: Graph;
  config: Record<string, unknown>;
  options: Options;
}

/** What every renderer returns: files to write under `--out`, and formatted warnings. */
export interface RenderResult {
  /** File name (no directories) → content. */
  files: Record<string, string>;
  /** Formatted warnings with their hints (a group mixing machine types, a dropped feature, ...). */
  warnings: string[];
  /** Machine-readable facts of the render a target adds (printed by `render --json`). */
  report?: Record<string, unknown>;
}

/**
 * A target: a pure, deterministic function (no I/O, no clock) from {@link RenderInput} to
 * {@link RenderResult}. It throws `SpecError` with every problem of the spec for that target
 * (each naming the task, the feature and the target), and never writes files itself: the CLI does.
 * What every target runs is computed once by `planDeployment` (deployment-plan.ts); a target maps
 * that plan to its own objects, identifiers and quoting.
 */
export type Renderer<Options> = (input: RenderInput<Options>) => RenderResult;

/** The targets `dagwright render` knows, in the order `--help` lists them. */
export const RENDER_TARGETS = ["argo", "airflow", "prefect", "stepfunctions"] as const;

/** One of {@link RENDER_TARGETS}. */
export type RenderTarget = (typeof RENDER_TARGETS)[number];
