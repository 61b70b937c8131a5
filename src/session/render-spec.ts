import { buildGraph } from "../graph/build-graph.js";
import type { AirflowOptions } from "../render/airflow.js";
import type { ArgoOptions } from "../render/argo.js";
import type { PrefectOptions } from "../render/prefect.js";
import type { Renderer, RenderResult, RenderTarget } from "../render/renderer.js";
import { RENDER_TARGETS } from "../render/renderer.js";
import type { StepFunctionsOptions } from "../render/stepfunctions.js";
import { UsageError } from "../spec/errors.js";
import { resolveConfig } from "../spec/resolve-config.js";
import type { LoadedSpec } from "./open-project.js";

/** Each render target's own options (see its renderer). */
export interface RenderTargetOptions {
  argo: ArgoOptions;
  airflow: AirflowOptions;
  prefect: PrefectOptions;
  stepfunctions: StepFunctionsOptions;
}

/**
 * How {@link Project.render} renders: the target's options, plus the config layering of
 * `dagwright render`. `env` does both what it does for the target (every unit runs with
 * `--env=NAME`) and merges `environments.NAME.config` over the config the renderer sees; `set`
 * overrides config values (`KEY=VALUE`, dotted keys, JSON values), as `--set` does.
 */
export type ProjectRenderOptions<T extends RenderTarget = RenderTarget> = RenderTargetOptions[T] & {
  set?: string[];
};

/** Loaded on demand: a command renders for one target, so it needs one renderer's code. */
const RENDERERS: { [T in RenderTarget]: () => Promise<Renderer<RenderTargetOptions[T]>> } = {
  argo: async () => (await import("../render/argo.js")).renderArgo,
  airflow: async () => (await import("../render/airflow.js")).renderAirflow,
  prefect: async () => (await import("../render/prefect.js")).renderPrefect,
  stepfunctions: async () => (await import("../render/stepfunctions.js")).renderStepFunctions,
};

/**
 * Renders one graph of a loaded spec for a target, the way `dagwright render` does: the graph
 * (`graphName`, or the spec's only graph) with its config resolved (root, graph, `env`, `set`).
 * Writes nothing: returns the files (name → content) and formatted warnings. Needs no state
 * store, so the CLI calls it with its cached spec and {@link Project.render} with its own.
 *
 * @throws UsageError for an unknown target, graph, environment or `set` entry; SpecError with
 *   every problem of the spec for that target.
 */
export async function renderSpec<T extends RenderTarget>(
  loaded: LoadedSpec,
  target: T,
  graphName: string | undefined,
  options: ProjectRenderOptions<T>,
): Promise<RenderResult> {
  const load = RENDERERS[target] as (typeof RENDERERS)[T] | undefined;
  if (load === undefined)
    throw new UsageError(
      `unknown render target ${JSON.stringify(target)}`,
      `use one of: ${RENDER_TARGETS.join(", ")}`,
    );
  const { spec, graphs } = loaded;
  const names = Object.keys(spec.graphs);
  const chosen = graphName ?? (names.length === 1 ? names[0] : undefined);
  const graph = (chosen === undefined ? undefined : graphs[chosen]) ?? buildGraph(spec, graphName);
  const { set, ...targetOptions } = options;
  const env = (options as { env?: string }).env;
  const config = resolveConfig(spec, graph.name, {
    ...(env !== undefined ? { env } : {}),
    ...(set ? { set } : {}),
  });
  const render = await load();
  return render({ spec, graph, config, options: targetOptions as RenderTargetOptions[T] });
}
