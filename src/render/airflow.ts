import type { Graph, GraphTask } from "../graph/graph.js";
import { type Diagnostic, formatDiagnostic } from "../spec/diagnostic.js";
import { SpecError } from "../spec/errors.js";
import { type AirflowConfig, readAirflowConfig } from "./airflow-config.js";
import { assignAirflowIds } from "./airflow-names.js";
import { jinjaLiteral, shellQuote } from "./airflow-quote.js";
import {
  checkTargetFeatures,
  type DeploymentPlan,
  kubeQuantities,
  type PlanUnit,
  planDeployment,
  type Report,
  reportInto,
} from "./deployment-plan.js";
import {
  PYTHON_TEMPLATE_HELPERS,
  renderFileTemplate,
  type TemplateUnit,
  templateUnits,
} from "./file-template.js";
import { PyExpr, pyCall, pyLiteral, pyStr } from "./python-literal.js";
import { isWellFormedUnicode } from "./quote.js";
import type { RenderInput, RenderResult } from "./renderer.js";

/** How to render a graph for Airflow. Every field is optional. */
export interface AirflowOptions {
  /** Airflow major version whose names the file uses (default 3). */
  airflow?: 2 | 3;
  /** `kubernetes` (default): a KubernetesPodOperator per unit; `bash`: a BashOperator. */
  operator?: "kubernetes" | "bash";
  /** Default: `config.image`, else `settings.docker_image` (required for `kubernetes`). */
  image?: string;
  /** Default: `config.airflow.namespace`. */
  namespace?: string;
  /** The Kubernetes Secret holding the state store URL (default `{name: dagwright-state, key: url}`). */
  stateUrlSecret?: { name: string; key: string };
  /** Default: `config.airflow.service_account_name`. */
  serviceAccountName?: string;
  /** An environment of the spec; every unit runs with `--env=NAME`. */
  env?: string;
  /** The state branch every unit records under (`DAGWRIGHT_BRANCH`). */
  branch?: string;
  /**
   * A whole-file override: Nunjucks (Jinja-compatible) template text (the caller reads the file),
   * rendered with {@link AirflowTemplateContext} instead of writing the default DAG file.
   */
  template?: string;
}

/** What an Airflow `--template` sees: the data the default file is built from, and its parts. */
export interface AirflowTemplateContext {
  target: "airflow";
  /** The graph's name as written. */
  graph: string;
  dag_id: string;
  airflow: 2 | 3;
  operator: "kubernetes" | "bash";
  image: string;
  config: Record<string, unknown>;
  /** Units, dependencies first; `code` is the default operator source (the mapped one for a fan-out). */
  units: (TemplateUnit & { list_variable: string | null; list_code: string | null })[];
  /** `[upstream variable, downstream variable]`, init tasks and listing tasks included. */
  edges: [string, string][];
  /** The default file's pieces: import lines, helper functions, the `DAG(...)` call, all operators. */
  parts: {
    imports: string;
    functions: string;
    dag: string;
    operators: { variable: string; code: string }[];
  };
  /** The default file, whole. */
  default: string;
  /** A Python literal of plain data. */
  py: (value: unknown) => string;
  json: (value: unknown) => string;
  /** Jinja text that Airflow renders to exactly the string (for templated operator fields). */
  jinja: (s: string) => string;
  /** One POSIX shell word (`shlex.quote`). */
  sh: (s: string) => string;
}

/** Where every unit's command writes the JSON list a KubernetesPodOperator pushes as XCom. */
const XCOM_FILE = "/airflow/xcom/return.json";
const SAFE_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** Placeholder for an item key while a unit's item command is built (never in user names). */
const ITEM = "\u0000dagwright-item\u0000";

/** One operator instance of the DAG file: its Python variable and source. */
interface Op {
  variable: string;
  code: string;
}

/**
 * Renders one graph as an Airflow DAG file (`<graph>_dag.py`): one KubernetesPodOperator (or
 * BashOperator) per task or fused group running `dagwright run-task` / `dagwright run --only`
 * exactly as Argo pods do; a fan-out task is a listing task whose XCom is the item keys
 * (base64url) or bundle numbers, then a mapped task (`.partial(...).expand(...)`).
 * Pure and deterministic. The file imports only Airflow, the Kubernetes client models and the
 * standard library, and does no I/O at import time. User strings reach it only as Python literals
 * (see `pyStr`), and in templated fields only as Jinja text rendering to exactly themselves
 * (see `jinjaLiteral`); Python identifiers are generated. Throws {@link SpecError} with every
 * problem (a feature Airflow cannot express, naming the task; invalid config; missing image).
 */
export function renderAirflow(input: RenderInput<AirflowOptions>): RenderResult {
  const { graph, config, options } = input;
  const diagnostics: Diagnostic[] = [];
  const report = reportInto(diagnostics, "airflow");
  const airflow = readAirflowConfig(config, graph.name, diagnostics);
  const operator = options.operator ?? "kubernetes";
  const checked = withMachineTags(graph, airflow.machineTagPrefix, config, report);
  const plan = planDeployment(
    { ...input, graph: checked },
    {
      output: "Airflow DAG",
      ...(options.image !== undefined ? { image: options.image } : {}),
      ...(options.stateUrlSecret !== undefined ? { stateUrlSecret: options.stateUrlSecret } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
      ...(airflow.groupTagPrefix !== undefined ? { groupTagPrefix: airflow.groupTagPrefix } : {}),
      checkArg: (value, what, path, task) => {
        if (!isWellFormedUnicode(value))
          report(
            "error",
            path,
            `${what} ${JSON.stringify(value)} is not valid Unicode`,
            undefined,
            task,
          );
      },
    },
    (severity, path, message, hint, task) =>
      // A bash deployment has no image, so its absence is no problem there.
      operator === "bash" && path === "settings.docker_image" && message.startsWith("no container")
        ? undefined
        : report(severity, path, message, hint, task),
    diagnostics,
  );
  checkFeatures(plan, operator, report);
  checkNames(options, airflow, report);
  if (diagnostics.some((d) => d.severity === "error")) throw new SpecError(diagnostics);
  const warnings = diagnostics.filter((d) => d.severity === "warning").map(formatDiagnostic);
  const source = dagSource(graph, plan, airflow, options);
  const base = SAFE_FILE.test(source.dagId) ? source.dagId : `dag_${source.dagId}`;
  const text =
    options.template === undefined
      ? source.text
      : renderFileTemplate(
          options.template,
          templateContext(input, plan, source),
          "Airflow",
          "it sees graph, dag_id, units, edges, parts, default, config and py(), jinja(), sh(), json(); write a literal {{ as {{ '{{' }}",
        );
  return { files: { [`${base}_dag.py`]: text }, warnings };
}

function templateContext(
  input: RenderInput<AirflowOptions>,
  plan: DeploymentPlan,
  source: DagSource,
): AirflowTemplateContext {
  const { options } = input;
  const units = templateUnits(
    plan,
    (u) => source.ids.get(`unit:${u.name}`)!,
    (_, i) => source.ops.find((op) => op.variable === `unit_${i}`)!.code,
  ).map((u, i) => {
    const list = source.ops.find((op) => op.variable === `items_${i}`);
    return { ...u, list_variable: list?.variable ?? null, list_code: list?.code ?? null };
  });
  return {
    target: "airflow",
    graph: input.graph.name,
    dag_id: source.dagId,
    airflow: options.airflow ?? 3,
    operator: options.operator ?? "kubernetes",
    image: plan.image,
    config: input.config,
    units,
    edges: source.edges,
    parts: source.parts,
    default: source.text,
    ...PYTHON_TEMPLATE_HELPERS,
    jinja: jinjaLiteral,
    sh: shellQuote,
  };
}

/** The graph with `machine_type` taken from a `machine:` tag where a task names none. */
function withMachineTags(
  graph: Graph,
  prefix: string | undefined,
  config: Record<string, unknown>,
  report: Report,
): Graph {
  if (prefix === undefined || prefix === "") return graph;
  const declared = Object.keys((config.machine_types as Record<string, unknown>) ?? {});
  const tasks: Record<string, GraphTask> = {};
  for (const [name, task] of Object.entries(graph.tasks)) {
    const tagged = task.spec.tags
      .filter((t) => t.startsWith(prefix))
      .map((t) => t.slice(prefix.length));
    const machine = tagged[0];
    if (machine === undefined || task.spec.machineType !== undefined) {
      tasks[name] = task;
      continue;
    }
    if (!declared.includes(machine) || tagged.length > 1) {
      tasks[name] = task;
      report(
        "error",
        `tasks.${name}.tags`,
        tagged.length > 1
          ? `task "${name}" names ${tagged.length} machine types by tag: ${tagged.join(", ")}`
          : `task "${name}" has tag "${prefix}${machine}", but config.machine_types does not declare "${machine}"`,
        `declared machine types: ${declared.join(", ") || "none"}`,
        task,
      );
      continue;
    }
    tasks[name] = { ...task, spec: { ...task.spec, machineType: machine } };
  }
  return { ...graph, tasks };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes names are identifiers: checked, never rewritten. */
function checkNames(options: AirflowOptions, airflow: AirflowConfig, report: Report) {
  const namespace = options.namespace ?? airflow.namespace;
  if (namespace !== undefined && !(namespace.length <= 63 && DNS_LABEL.test(namespace)))
    report(
      "error",
      "config.airflow.namespace",
      `namespace ${JSON.stringify(namespace)} is not a valid Kubernetes namespace`,
      "use lowercase letters, digits and '-' (at most 63)",
    );
  const sa = options.serviceAccountName ?? airflow.serviceAccountName;
  if (sa !== undefined && !(sa.length <= 253 && DNS_SUBDOMAIN.test(sa)))
    report(
      "error",
      "config.airflow.service_account_name",
      `service account ${JSON.stringify(sa)} is not a valid Kubernetes name`,
      "use lowercase letters, digits, '-' and '.'",
    );
}

/** Refuses what the chosen operator cannot express, naming the task, the feature and the target. */
function checkFeatures(plan: DeploymentPlan, operator: "kubernetes" | "bash", report: Report) {
  const target = `render airflow${operator === "bash" ? " --operator bash" : ""}`;
  const resources =
    operator === "bash"
      ? { runsOn: "the Airflow worker", hint: "use --operator kubernetes for per-task resources" }
      : undefined;
  checkTargetFeatures(
    plan,
    target,
    report,
    (task, unit, fail) => {
      if (task.spec.template !== undefined)
        fail(
          `template "${task.spec.template}" (an Argo pod template: sidecars, volumes)`,
          "drop `template:` for this target (e.g. in an environment), or render it with argo",
        );
      if (operator !== "bash") return;
      if (task.spec.secrets.length > 0)
        fail(
          "secrets (Kubernetes Secret references)",
          "use --operator kubernetes, or give the Airflow workers the variable in their environment and drop `secrets:`",
        );
      if ((task.spec.compute.gpu ?? 0) > 0 || (unit.compute.gpu ?? 0) > 0)
        fail("a GPU", "use --operator kubernetes, whose pods request nvidia.com/gpu");
    },
    resources,
  );
}

/** The whole DAG file. */
/** The default DAG file, and the pieces a template may reuse. */
interface DagSource {
  dagId: string;
  text: string;
  ids: Map<string, string>;
  ops: Op[];
  edges: [string, string][];
  parts: AirflowTemplateContext["parts"];
}

function dagSource(
  graph: Graph,
  plan: DeploymentPlan,
  airflow: AirflowConfig,
  options: AirflowOptions,
): DagSource {
  const version = options.airflow ?? 3;
  const bash = (options.operator ?? "kubernetes") === "bash";
  const ids = assignAirflowIds([
    ...plan.units.flatMap((u) => [
      { key: `unit:${u.name}`, name: u.name },
      ...(u.fanOut ? [{ key: `items:${u.name}`, name: u.name, suffix: "-items" }] : []),
    ]),
    ...airflow.initTasks.map((t) => ({ key: `init:${t.name}`, name: `init-${t.name}` })),
  ]);
  const dagId = assignAirflowIds([{ key: "graph", name: graph.name }]).get("graph")!;
  const ctx: OpContext = { plan, airflow, options, bash, functions: [] };
  const ops: Op[] = [];
  const edges: [string, string][] = [];
  const inits = airflow.initTasks.map((t, i) => {
    const variable = `init_${i}`;
    ops.push({ variable, code: initOp(ctx, ids.get(`init:${t.name}`)!, t.command, t.image) });
    return variable;
  });
  const variableOf = new Map<string, string>();
  for (const [i, unit] of plan.units.entries()) {
    const variable = `unit_${i}`;
    variableOf.set(unit.name, variable);
    const upstream = unit.deps.length > 0 ? unit.deps.map((d) => variableOf.get(d)!) : inits;
    if (unit.fanOut === undefined) {
      ops.push({ variable, code: unitOp(ctx, ids.get(`unit:${unit.name}`)!, unit) });
      for (const u of upstream) edges.push([u, variable]);
      continue;
    }
    const items = `items_${i}`;
    ops.push({ variable: items, code: listOp(ctx, ids.get(`items:${unit.name}`)!, unit) });
    ops.push({ variable, code: mappedOp(ctx, items, i, ids.get(`unit:${unit.name}`)!, unit) });
    for (const u of upstream) edges.push([u, items]);
    edges.push([items, variable]);
  }
  const dagKwargs: Record<string, unknown> = {
    dag_id: dagId,
    schedule: null,
    catchup: false,
    ...airflow.dag,
  };
  if (version === 2) {
    dagKwargs.schedule_interval = dagKwargs.schedule;
    delete dagKwargs.schedule;
  }
  const dag = pyCall("DAG", dagKwargs);
  const lines = [
    `# Generated by dagwright from graph ${pyStr(graph.name)}; edit dagwright.yaml and render again.`,
    "# Importing this file does no I/O: the scheduler parses it often.",
    ...imports(version, bash),
    "",
    ...ctx.functions,
    `with ${dag} as dag:`,
    ...ops.map((op) => `    ${op.variable} = ${op.code.replaceAll("\n", "\n    ")}`),
    ...edges.map(([a, b]) => `    ${a} >> ${b}`),
    "",
  ];
  const parts = {
    imports: imports(version, bash).join("\n"),
    functions: ctx.functions.join("\n"),
    dag,
    operators: ops,
  };
  return { dagId, text: lines.join("\n"), ids, ops, edges, parts };
}

function imports(version: 2 | 3, bash: boolean): string[] {
  const lines = ["import datetime"];
  if (bash) lines.push("import json");
  lines.push("");
  lines.push(version === 3 ? "from airflow.sdk import DAG" : "from airflow import DAG");
  if (bash)
    lines.push(
      version === 3
        ? "from airflow.providers.standard.operators.bash import BashOperator"
        : "from airflow.operators.bash import BashOperator",
    );
  else
    lines.push(
      "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
      "from airflow.providers.cncf.kubernetes.secret import Secret",
      "from kubernetes.client import models as k8s",
    );
  lines.push("");
  return lines;
}

interface OpContext {
  plan: DeploymentPlan;
  airflow: AirflowConfig;
  options: AirflowOptions;
  bash: boolean;
  /** Module-level helper functions (item argument lists), in order. */
  functions: string[];
}

/** Env values every unit gets, as Jinja text: the run id is Airflow's, the rest literal. */
function baseEnv(ctx: OpContext): Record<string, string> {
  const env: Record<string, string> = { DAGWRIGHT_RUN_ID: "{{ run_id }}" };
  if (ctx.options.branch !== undefined) env.DAGWRIGHT_BRANCH = jinjaLiteral(ctx.options.branch);
  return env;
}

function unitEnv(ctx: OpContext, unit: PlanUnit): Record<string, string> {
  const env = baseEnv(ctx);
  for (const [k, v] of unit.env) env[k] = jinjaLiteral(v);
  return env;
}

/** Keyword arguments every operator of a unit shares (kubernetes: pod; bash: env). */
function commonKwargs(ctx: OpContext, unit: PlanUnit | undefined, env: Record<string, string>) {
  const kw: Record<string, unknown> = {};
  if (ctx.bash) {
    kw.env = env;
    kw.append_env = true;
  } else {
    const ns = ctx.options.namespace ?? ctx.airflow.namespace;
    if (ns !== undefined) kw.namespace = jinjaLiteral(ns);
    kw.image = jinjaLiteral(ctx.plan.image);
    kw.env_vars = env;
    const secrets = [
      { env: "DAGWRIGHT_STATE_URL", ...ctx.plan.stateSecret },
      ...(unit?.secrets ?? []),
    ];
    kw.secrets = secrets.map(
      (s) => new PyExpr(`Secret("env", ${pyStr(s.env)}, ${pyStr(s.name)}, ${pyStr(s.key)})`),
    );
    const sa = ctx.options.serviceAccountName ?? ctx.airflow.serviceAccountName;
    if (sa !== undefined) kw.service_account_name = jinjaLiteral(sa);
    kw.get_logs = true;
    kw.on_finish_action = "delete_pod";
  }
  if (unit !== undefined) {
    if (unit.retries > 0) kw.retries = unit.retries;
    if (unit.timeoutSeconds !== undefined)
      kw.execution_timeout = new PyExpr(
        `datetime.timedelta(seconds=${Math.max(1, Math.ceil(unit.timeoutSeconds))})`,
      );
  }
  return kw;
}

/** Pod placement of a unit: resources, node selector of its machine type, GPU toleration. */
function podKwargs(ctx: OpContext, unit: PlanUnit): Record<string, unknown> {
  if (ctx.bash) return {};
  const kw: Record<string, unknown> = {};
  const q = kubeQuantities(unit.compute);
  if (q !== undefined)
    kw.container_resources = new PyExpr(
      `k8s.V1ResourceRequirements(requests=${pyLiteral(q)}, limits=${pyLiteral(q)})`,
    );
  const selector =
    unit.machineType !== undefined ? ctx.airflow.nodeSelectors[unit.machineType] : undefined;
  if (selector !== undefined)
    kw.node_selector = Object.fromEntries(
      Object.entries(selector).map(([k, v]) => [k, jinjaLiteral(v)]),
    );
  if ((unit.compute.gpu ?? 0) > 0)
    kw.tolerations = [
      new PyExpr('k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")'),
    ];
  return kw;
}

/** The command of a unit: `dagwright ARGS` as pod args, or one shell line for bash. */
function commandKwargs(ctx: OpContext, args: string[]): Record<string, unknown> {
  if (ctx.bash)
    return { bash_command: jinjaLiteral(["dagwright", ...args].map(shellQuote).join(" ")) };
  return { cmds: ["dagwright"], arguments: args.map(jinjaLiteral) };
}

function operatorName(ctx: OpContext): string {
  return ctx.bash ? "BashOperator" : "KubernetesPodOperator";
}

function initOp(ctx: OpContext, taskId: string, command: string[], image?: string): string {
  const kw: Record<string, unknown> = {
    task_id: taskId,
    ...commonKwargs(ctx, undefined, baseEnv(ctx)),
  };
  if (ctx.bash) kw.bash_command = jinjaLiteral(command.map(shellQuote).join(" "));
  else {
    if (image !== undefined) kw.image = jinjaLiteral(image);
    kw.cmds = command.slice(0, 1).map(jinjaLiteral);
    kw.arguments = command.slice(1).map(jinjaLiteral);
  }
  return pyCall(operatorName(ctx), kw);
}

function unitOp(ctx: OpContext, taskId: string, unit: PlanUnit): string {
  return pyCall(operatorName(ctx), {
    task_id: taskId,
    ...commonKwargs(ctx, unit, unitEnv(ctx, unit)),
    ...podKwargs(ctx, unit),
    ...commandKwargs(ctx, unit.command),
  });
}

/** The listing task: prints the keys as JSON, which becomes its XCom (the mapped task's input). */
function listOp(ctx: OpContext, taskId: string, unit: PlanUnit): string {
  const list = unit.fanOut!.list;
  const kw: Record<string, unknown> = {
    task_id: taskId,
    ...commonKwargs(ctx, undefined, baseEnv(ctx)),
  };
  if (unit.retries > 0) kw.retries = unit.retries;
  if (ctx.bash) {
    Object.assign(kw, commandKwargs(ctx, list));
    kw.do_xcom_push = true;
    kw.output_processor = new PyExpr("json.loads");
  } else {
    // `sh -c` only redirects: the arguments reach dagwright as "$@", never parsed by the shell.
    kw.cmds = ["sh", "-c", `dagwright "$@" > ${XCOM_FILE}`, "dagwright"];
    kw.arguments = list.map(jinjaLiteral);
    kw.do_xcom_push = true;
  }
  return pyCall(operatorName(ctx), kw);
}

/** The mapped task: one task instance per listed key, at most `group_size` at once. */
function mappedOp(
  ctx: OpContext,
  items: string,
  index: number,
  taskId: string,
  unit: PlanUnit,
): string {
  const fanOut = unit.fanOut!;
  const args = fanOut.item(ITEM);
  const at = args.findIndex((a) => a.includes(ITEM));
  const [before, after] = args[at]!.split(ITEM) as [string, string];
  const fn = `_item_command_${index}`;
  // The key is base64url or a bundle number: nothing in it is special to Jinja or the shell.
  if (ctx.bash) {
    const words = args.map((a) => shellQuote(a));
    const head = ["dagwright", ...words.slice(0, at)].join(" ");
    const tail = words.slice(at + 1).join(" ");
    ctx.functions.push(
      `def ${fn}(key):`,
      `    return ${pyStr(jinjaLiteral(`${head} ${before}`))} + str(key) + ${pyStr(jinjaLiteral(`${after} ${tail}`))}`,
      "",
      "",
    );
  } else {
    const parts = args.map((a, i) =>
      i === at
        ? [
            before === "" ? "" : `${pyStr(jinjaLiteral(before))} + `,
            "str(key)",
            after === "" ? "" : ` + ${pyStr(jinjaLiteral(after))}`,
          ].join("")
        : pyStr(jinjaLiteral(a)),
    );
    ctx.functions.push(`def ${fn}(key):`, `    return [${parts.join(", ")}]`, "", "");
  }
  const kw: Record<string, unknown> = {
    task_id: taskId,
    ...commonKwargs(ctx, unit, unitEnv(ctx, unit)),
    ...podKwargs(ctx, unit),
  };
  if (!ctx.bash) kw.cmds = ["dagwright"];
  if (fanOut.groupSize !== undefined) kw.max_active_tis_per_dagrun = fanOut.groupSize;
  const field = ctx.bash ? "bash_command" : "arguments";
  return `${pyCall(`${operatorName(ctx)}.partial`, kw)}.expand(${field}=${items}.output.map(${fn}))`;
}
