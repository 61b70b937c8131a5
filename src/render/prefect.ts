import type { Graph } from "../graph/graph.js";
import { type Diagnostic, formatDiagnostic } from "../spec/diagnostic.js";
import { SpecError } from "../spec/errors.js";
import { assignAirflowIds } from "./airflow-names.js";
import {
  checkTargetFeatures,
  type DeploymentPlan,
  type PlanUnit,
  planDeployment,
  type Report,
  reportBadProcessArg,
  reportInto,
} from "./deployment-plan.js";
import {
  PYTHON_TEMPLATE_HELPERS,
  renderFileTemplate,
  type TemplateUnit,
  templateUnits,
} from "./file-template.js";
import {
  checkNoPlaceholder,
  checkWorkPool,
  prefectYaml,
  readPrefectConfig,
  runTaskDeploymentName,
  unitJobVariables,
} from "./prefect-deploy.js";
import { remoteHelper, runHelper, SCHEDULE_HELPERS } from "./prefect-runtime.js";
import { pyLiteral, pyStr } from "./python-literal.js";
import type { RenderInput, RenderResult } from "./renderer.js";

/** How to render a graph as a Prefect flow. Every field is optional. */
export interface PrefectOptions {
  /** An environment of the spec; every unit runs with `--env=NAME`. */
  env?: string;
  /** The state branch every unit records under (`DAGWRIGHT_BRANCH`). */
  branch?: string;
  /** The Prefect major version `prefect.yaml` names (default 3; the flow file works with both). */
  prefect?: 2 | 3;
  /**
   * `process` (default): every unit runs where the flow runs. `work-pool`: every unit runs in a
   * container of its own through `run_deployment` of a `run-task` deployment, sized by its
   * compute, and `prefect.yaml` is written beside the flow.
   */
  infra?: "process" | "work-pool";
  /** The work pool of `infra: work-pool` (default `config.prefect.work_pool`). */
  workPool?: string;
  /** The image of `infra: work-pool` (default `config.image`, else `settings.docker_image`). */
  image?: string;
  /**
   * A Prefect Secret block (a `prefect.blocks.system.Secret`) holding the state store URL: every
   * `dagwright` run of the flow (in the run-task deployment's container with `infra: work-pool`)
   * gets `DAGWRIGHT_STATE_URL` from it at run time. The URL itself is in no rendered file.
   */
  stateSecret?: string;
  /**
   * A whole-file override: Nunjucks (Jinja-compatible) template text, rendered with
   * {@link PrefectTemplateContext} instead of writing the default flow file.
   */
  template?: string;
}

/** What a Prefect `--template` sees: the data the default flow is built from, and its parts. */
export interface PrefectTemplateContext {
  target: "prefect";
  /** The graph's name as written. */
  graph: string;
  flow_name: string;
  infra: "process" | "work-pool";
  image: string;
  config: Record<string, unknown>;
  /** Units, dependencies first; `code` is the default `@task` definition (the mapped one for a fan-out). */
  units: (TemplateUnit & { job_variables: Record<string, number> })[];
  /** The default file's pieces: its imports and helpers, task definitions, the flow function. */
  parts: { header: string; tasks: string; flow: string };
  /** The default file, whole. */
  default: string;
  py: (value: unknown) => string;
  json: (value: unknown) => string;
}

const SAFE_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** Placeholder for an item key while a unit's item command is built (never in user names). */
const ITEM = "\u0000dagwright-item\u0000";

/**
 * Renders one graph as a Prefect flow file (`<graph>_flow.py`, Prefect 2 and 3): one `@task` per
 * task or fused group whose body runs `dagwright run-task …` (or `run --only=…`) as a subprocess
 * without a shell and raises with the log tail on a non-zero exit; a fan-out is a listing task
 * and `.map` over its keys (at most `group_size` at once), on a thread of its own so that no
 * unit waits for a fan-out it does not depend on; edges are `wait_for`. Runs where the
 * flow runs (a process worker with the project and dagwright installed), so Kubernetes-only
 * features (secrets by reference, GPUs, pod templates) are errors and cpu/memory a warning.
 * Pure and deterministic; the file does no I/O at import time. User strings reach it only as
 * Python literals; Python identifiers are generated. Throws {@link SpecError} with every problem.
 */
export function renderPrefect(input: RenderInput<PrefectOptions>): RenderResult {
  const { graph, options } = input;
  const diagnostics: Diagnostic[] = [];
  const report = reportInto(diagnostics, "prefect");
  const pool = options.infra === "work-pool";
  const prefect = readPrefectConfig(input.config, diagnostics);
  const workPool = options.workPool ?? prefect.workPool;
  if (pool) checkWorkPool(workPool, report);
  const plan = planDeployment(
    input,
    {
      output: "Prefect deployment",
      ...(options.image !== undefined ? { image: options.image } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
      checkArg: (value, what, path, task) => {
        reportBadProcessArg(report, value, what, path, task);
      },
    },
    // A process flow runs the project where it is: no image needed.
    (severity, path, message, hint, task) =>
      path === "settings.docker_image" && !pool
        ? undefined
        : report(severity, path, message, hint, task),
    diagnostics,
  );
  checkFeatures(plan, report, pool);
  if (options.stateSecret !== undefined) checkBlockName(options.stateSecret, report);
  if (pool) {
    // What prefect.yaml holds from the user: no Prefect placeholders.
    checkNoPlaceholder(input.spec.settings.name, "settings.name", report);
    checkNoPlaceholder(workPool, "--work-pool (or config.prefect.work_pool)", report);
    checkNoPlaceholder(
      plan.image,
      "the image (--image, config.image or settings.docker_image)",
      report,
    );
    checkNoPlaceholder(prefect.workingDir, "config.prefect.working_dir", report);
    checkNoPlaceholder(prefect.jobVariables, "config.prefect.job_variables", report);
  }
  if (diagnostics.some((d) => d.severity === "error")) throw new SpecError(diagnostics);
  const warnings = diagnostics.filter((d) => d.severity === "warning").map(formatDiagnostic);
  const source = flowSource(graph, plan, options);
  const base = SAFE_FILE.test(source.name) ? source.name : `flow_${source.name}`;
  const flowFile = `${base}_flow.py`;
  const text =
    options.template === undefined
      ? source.text
      : renderFileTemplate(
          options.template,
          templateContext(input, plan, source),
          "Prefect",
          "it sees graph, flow_name, units, parts, default, config and py(), json(); write a literal {{ as {{ '{{' }}",
        );
  const files: Record<string, string> = { [flowFile]: text };
  if (pool)
    files["prefect.yaml"] = prefectYaml({
      project: input.spec.settings.name,
      flowFile,
      flowName: source.name,
      version: options.prefect ?? 3,
      pool: workPool!,
      plan,
      config: prefect,
    });
  return { files, warnings };
}

function templateContext(
  input: RenderInput<PrefectOptions>,
  plan: DeploymentPlan,
  source: FlowSource,
): PrefectTemplateContext {
  const units = templateUnits(
    plan,
    (u) => source.ids.get(`unit:${u.name}`)!,
    (_, i) => source.taskCode[i]!,
  ).map((u, i) => ({ ...u, job_variables: unitJobVariables(plan.units[i]!) }));
  return {
    target: "prefect",
    graph: input.graph.name,
    flow_name: source.name,
    infra: input.options.infra ?? "process",
    image: plan.image,
    config: input.config,
    units,
    parts: source.parts,
    default: source.text,
    ...PYTHON_TEMPLATE_HELPERS,
  };
}

/** Prefect's rule for block names (lowercase letters, digits, dashes), checked before deploying. */
const BLOCK_NAME = /^[a-z0-9-]+$/;

function checkBlockName(name: string, report: Report): void {
  if (!BLOCK_NAME.test(name))
    report(
      "error",
      "--state-secret",
      `${JSON.stringify(name)} is not a Prefect block name`,
      "a Secret block's name has only lowercase letters, digits and dashes, e.g. --state-secret dagwright-state",
    );
}

function checkFeatures(plan: DeploymentPlan, report: Report, pool: boolean): void {
  checkTargetFeatures(
    plan,
    "render prefect",
    report,
    (task, unit, fail) => {
      if (task.spec.template !== undefined)
        fail(
          `template "${task.spec.template}" (an Argo pod template)`,
          "drop `template:` for this target, or render it with argo",
        );
      if (task.spec.secrets.length > 0)
        fail(
          "secrets (Kubernetes Secret references)",
          "give the Prefect worker the variable in its environment and drop `secrets:`",
        );
      if ((unit.compute.gpu ?? 0) > 0) fail("a GPU", "render it with argo or airflow");
    },
    // In a work pool each unit's container gets its cpu and memory.
    pool
      ? undefined
      : {
          runsOn: "the Prefect worker",
          hint: "size the worker, render with --infra work-pool, or render it with argo or airflow",
        },
  );
}

/** The default flow file, and the pieces a template may reuse. */
interface FlowSource {
  name: string;
  text: string;
  ids: Map<string, string>;
  /** Each unit's `@task` definition (the mapped one for a fan-out), by unit index. */
  taskCode: string[];
  parts: PrefectTemplateContext["parts"];
}

function flowSource(graph: Graph, plan: DeploymentPlan, options: PrefectOptions): FlowSource {
  const ids = assignAirflowIds([
    { key: "graph", name: graph.name },
    ...plan.units.flatMap((u) => [
      { key: `unit:${u.name}`, name: u.name },
      ...(u.fanOut ? [{ key: `items:${u.name}`, name: u.name, suffix: "-items" }] : []),
    ]),
  ]);
  const flowName = ids.get("graph")!;
  const remote = options.infra === "work-pool";
  const base: Record<string, string> = {};
  if (options.branch !== undefined) base.DAGWRIGHT_BRANCH = options.branch;
  const defs: string[] = [];
  const taskCode: string[] = [];
  const body: string[] = [];
  // A unit's handle: `f_i`. Deferred: a fan-out, or a unit after one (its handle is a future).
  const deferred = new Set<string>();
  const indexOf = new Map(plan.units.map((u, i) => [u.name, i]));
  for (const [i, unit] of plan.units.entries()) {
    const env = { ...base, ...Object.fromEntries(unit.env) };
    const id = ids.get(`unit:${unit.name}`)!;
    // A unit runs where the flow runs, or (work pool) as a run of the run-task deployment.
    const call = (args: string) =>
      remote
        ? `_remote(${args}, ${pyLiteral(env)}, ${pyLiteral(unitJobVariables(unit))}, ${pyStr(id)})`
        : `_dagwright(${args}, ${pyLiteral(env)})`;
    const deps = unit.deps.map((d) => `f_${indexOf.get(d)}`);
    if (unit.fanOut === undefined) {
      const def = taskDef(`unit_${i}`, id, unit, "", call(pyLiteral(unit.command)));
      defs.push(...def);
      taskCode.push(def.join("\n").trimEnd());
      if (deps.some((d) => deferred.has(d))) {
        deferred.add(`f_${i}`);
        body.push(`    f_${i} = _thread(_after, [${deps.join(", ")}], unit_${i})`);
      } else {
        const waitFor = deps.length > 0 ? `wait_for=[${deps.map((d) => `*${d}`).join(", ")}]` : "";
        body.push(`    f_${i} = [unit_${i}.submit(${waitFor})]`);
      }
    } else {
      const def = taskDef(`unit_${i}`, id, unit, "key", call(itemArgs(unit.fanOut.item(ITEM))));
      // Listing is cheap and its output is the keys: it runs where the flow runs.
      const listing = `return json.loads(_dagwright(${pyLiteral(unit.fanOut.list)}, ${pyLiteral(base)}))`;
      defs.push(
        ...taskDef(`items_${i}`, ids.get(`items:${unit.name}`)!, unit, "", listing),
        ...def,
      );
      taskCode.push(def.join("\n").trimEnd());
      deferred.add(`f_${i}`);
      const size = unit.fanOut.groupSize ?? "None";
      body.push(
        `    f_${i} = _thread(_fan_out, [${deps.join(", ")}], items_${i}, unit_${i}, ${size})`,
      );
    }
  }
  const header = flowHeader(
    graph,
    remote ? runTaskDeploymentName(flowName) : undefined,
    options.stateSecret,
  );
  const flowLines = [
    `@flow(name=${pyStr(flowName)})`,
    "def dagwright_flow():",
    ...body,
    `    _finish([${plan.units.map((_, i) => `f_${i}`).join(", ")}])`,
  ];
  const lines = [
    ...header,
    ...defs,
    ...flowLines,
    "",
    "",
    'if __name__ == "__main__":',
    "    dagwright_flow()",
    "",
  ];
  return {
    name: flowName,
    text: lines.join("\n"),
    ids,
    taskCode,
    parts: {
      header: header.join("\n"),
      tasks: defs.join("\n"),
      flow: flowLines.join("\n"),
    },
  };
}

/**
 * The flow file's imports and helpers (`runTask`: the work pool's run-task deployment;
 * `stateSecret`: the Secret block of the state URL).
 */
function flowHeader(
  graph: Graph,
  runTask: string | undefined,
  stateSecret: string | undefined,
): string[] {
  return [
    `# Generated by dagwright from graph ${pyStr(graph.name)}; edit dagwright.yaml and render again.`,
    "# Importing this file does no I/O; every task runs `dagwright` as a subprocess (no shell).",
    "import concurrent.futures",
    "import contextvars",
    "import json",
    "import os",
    "import subprocess",
    "import threading",
    "",
    "from prefect import flow, task",
    "",
    "",
    ...runHelper(stateSecret),
    ...(runTask !== undefined ? remoteHelper(runTask) : []),
    ...SCHEDULE_HELPERS,
  ];
}

/** The Python list of an item's arguments: the key (`str(key)`) spliced where ITEM is. */
function itemArgs(args: string[]): string {
  const at = args.findIndex((a) => a.includes(ITEM));
  const [before, after] = args[at]!.split(ITEM) as [string, string];
  const parts = args.map((a, j) =>
    j === at
      ? [before && `${pyStr(before)} + `, "str(key)", after && ` + ${pyStr(after)}`].join("")
      : pyStr(a),
  );
  return `[${parts.join(", ")}]`;
}

function taskDef(
  fn: string,
  name: string,
  unit: PlanUnit,
  param: string,
  statement: string,
): string[] {
  const kw: Record<string, unknown> = { name };
  if (unit.retries > 0) {
    kw.retries = unit.retries;
    // The backoff of local runs: 1 s, 2 s, 4 s … capped at 30 s.
    kw.retry_delay_seconds = Array.from({ length: unit.retries }, (_, i) => Math.min(30, 2 ** i));
  }
  if (unit.timeoutSeconds !== undefined && !fn.startsWith("items_"))
    kw.timeout_seconds = Math.max(1, Math.ceil(unit.timeoutSeconds));
  const tags = [...new Set(unit.members.flatMap((t) => t.spec.tags))];
  if (tags.length > 0) kw.tags = tags;
  const args = Object.entries(kw).map(([k, v]) => `${k}=${pyLiteral(v)}`);
  return [`@task(${args.join(", ")})`, `def ${fn}(${param}):`, `    ${statement}`, "", ""];
}
