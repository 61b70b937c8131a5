import { parseAllDocuments } from "yaml";
import type { GraphTask } from "../graph/graph.js";
import { type Diagnostic, formatDiagnostic } from "../spec/diagnostic.js";
import { DagwrightError, SpecError } from "../spec/errors.js";
import { type ArgoConfig, readArgoConfig } from "./argo-config.js";
import type { Fail } from "./argo-custom-template.js";
import {
  type ArgoBuild,
  addInitTemplates,
  addUnitTemplates,
  baseEnvOf,
  initParamsOf,
} from "./argo-unit-templates.js";
import { type PlanUnit, planDeployment, reportInto } from "./deployment-plan.js";
import { renderFileTemplate } from "./file-template.js";
import { assignDnsLabels, type LabelRequest } from "./names.js";
import { hasArgoTag, isWellFormedUnicode, toYaml } from "./quote.js";
import type { RenderInput, RenderResult } from "./renderer.js";

/** How to render a graph for Argo Workflows. Every field is optional. */
export interface ArgoOptions {
  /** `Workflow` (default; `metadata.generateName`) or `WorkflowTemplate` (`metadata.name`). */
  kind?: "Workflow" | "WorkflowTemplate";
  /** Default: `config.argo.namespace`; none when unset. */
  namespace?: string;
  /** Default: `config.image`, else `settings.docker_image`; required from one of them. */
  image?: string;
  /** The Kubernetes Secret holding the state store URL (default `{name: dagwright-state, key: url}`). */
  stateUrlSecret?: { name: string; key: string };
  /** Default: `config.argo.service_account_name`. */
  serviceAccountName?: string;
  /** An environment of the spec (`environments.NAME`); every unit runs with `--env=NAME`. */
  env?: string;
  /** The state branch every unit records under (`DAGWRIGHT_BRANCH`); default: the pod's own. */
  branch?: string;
  /** Tags with this prefix name a group (default `settings.group_tag_prefix`). */
  groupTagPrefix?: string;
  /**
   * A whole-file override: Nunjucks template text (the caller reads the file), rendered with
   * {@link ArgoTemplateContext} instead of writing the manifest as is.
   */
  template?: string;
}

/** What a whole-file override template sees. */
export interface ArgoTemplateContext {
  /** The manifest that would be written, as plain data. */
  workflow: Record<string, unknown>;
  /** Serializes a value as safe YAML (the renderer's own serializer). */
  yaml: (value: unknown) => string;
  /** The graph's name as written. */
  graph: string;
  /** Every task of the graph, in topological order, with the DAG task that runs it. */
  tasks: { name: string; unit: string; dagTask: string; fanOut: boolean }[];
  /** Every unit (task or group), dependencies first. */
  units: {
    name: string;
    kind: "task" | "group";
    dagTask: string;
    tasks: string[];
    deps: string[];
  }[];
}

/** The input of {@link renderArgo}. */
export type ArgoInput = RenderInput<ArgoOptions>;

/** `<graph>.argo.yaml` → content, and the warnings of the render. */
export type ArgoRender = RenderResult;

type Json = Record<string, unknown>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SAFE_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Prefix of env vars that carry a value containing `{{` (base64 of its UTF-8). */
export { ENV_B64_PREFIX } from "./argo-unit-templates.js";

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * Renders one graph as an Argo Workflows manifest: one DAG template (`main`) with one DAG task per
 * task or fused group; every unit runs `dagwright run-task` (or `dagwright run --only` for a group)
 * in the project image, so state, freshness and retries of results behave as locally.
 * Pure and deterministic: no I/O, no clock; the same input gives the same bytes.
 * User strings reach the manifest only as YAML data: values that Argo would evaluate (`{{`) are
 * base64-encoded (env) or rejected (names, references); `$` is escaped for Kubernetes.
 * Secrets appear only as `secretKeyRef`s. Throws {@link SpecError} with every problem (unknown
 * template, cyclic grouping, missing image, invalid secret names, ...), each naming the task, and
 * {@link DagwrightError} (`E_USAGE`) when a whole-file override template fails.
 */
export function renderArgo(input: ArgoInput): ArgoRender {
  const { workflow, context, diagnostics, graphLabel } = buildWorkflow(input);
  const warnings = diagnostics.filter((d) => d.severity === "warning").map(formatDiagnostic);
  const text =
    input.options.template === undefined
      ? toYaml(workflow)
      : renderOverride(input.options.template, context);
  // The file name comes from the graph's name only when that is a plain file name.
  const base = SAFE_FILE.test(input.graph.name) ? input.graph.name : graphLabel;
  const tooBig = sizeWarning(`${base}.argo.yaml`, text);
  return { files: { [`${base}.argo.yaml`]: text }, warnings: [...warnings, ...tooBig] };
}

/**
 * Kubernetes stores every object in etcd, which refuses requests over 1.5 MiB by default: a
 * Workflow larger than that cannot even be submitted.
 */
const KUBE_OBJECT_LIMIT = 1.5 * 1024 * 1024;

function sizeWarning(file: string, text: string): string[] {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes <= KUBE_OBJECT_LIMIT) return [];
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return [
    `${file} is ${mib(bytes)}, over the ${mib(KUBE_OBJECT_LIMIT)} Kubernetes accepts for one object: the Workflow would be refused at submission\n  hint: fuse tasks into fewer pods with \`group:\` (or tags with the group prefix), or split the graph into several; the spec itself must fit, and during a run Argo's node status offloading (persistence.nodeStatusOffLoad) keeps the growing status out of the object`,
  ];
}

function renderOverride(template: string, context: ArgoTemplateContext): string {
  const text = renderFileTemplate(
    template,
    context,
    "Argo",
    "it sees workflow, yaml(value), graph, tasks and units; write a literal {{ as {{ '{{' }}",
  );
  for (const doc of parseAllDocuments(text) as Iterable<{ errors: { message: string }[] }>) {
    if (doc.errors.length > 0)
      throw new DagwrightError(
        "E_USAGE",
        `the Argo template override produced invalid YAML: ${doc.errors[0]!.message}`,
        { hint: "insert values with {{ yaml(value) }} so they are quoted" },
      );
  }
  return text;
}

interface BuiltWorkflow {
  workflow: Json;
  context: ArgoTemplateContext;
  diagnostics: Diagnostic[];
  graphLabel: string;
}

/** The identifiers of the workflow itself, checked (never rewritten). */
interface WorkflowSettings {
  kind: "Workflow" | "WorkflowTemplate";
  graphLabel: string;
  namespace: string | undefined;
  serviceAccountName: string | undefined;
}

/**
 * The manifest as data and what an override template sees: settings checked, the deployment
 * planned, names assigned, then the templates of init templates and units. Throws
 * {@link SpecError} with every problem once all units are done.
 */
function buildWorkflow(input: ArgoInput): BuiltWorkflow {
  const { graph, config, options } = input;
  const diagnostics: Diagnostic[] = [];
  const report = reportInto(diagnostics, "argo");
  const fail: Fail = (path, message, hint, task) => report("error", path, message, hint, task);

  const argo = readArgoConfig(config, diagnostics);
  const kind = options.kind ?? "Workflow";
  const { namespace, serviceAccountName } = checkIdentifiers(options, argo, fail);
  checkNoTag(fail, "config.argo.working_dir", "working_dir", argo.workingDir);
  checkNoTag(fail, "branch", "the branch", options.branch);
  const plan = planDeployment(
    input,
    {
      output: "Argo manifest",
      ...pick(options, ["image", "stateUrlSecret", "env", "groupTagPrefix"]),
      checkArg: (value, what, path, task) => checkNoTag(fail, path, what, value, task),
    },
    report,
    diagnostics,
  );
  const label = assignNames(plan.units, argo);
  const graphLabel = assignDnsLabels([
    { key: "graph", name: graph.name, maxLength: kind === "Workflow" ? 57 : 63 },
  ]).get("graph")!;
  const initLabels = argo.initTemplates.map((i) => label(`init:${i.name}`));
  const initParams = initParamsOf(argo, initLabels, fail);
  const b: ArgoBuild = {
    fail,
    argo,
    image: plan.image,
    label,
    initLabels,
    initParams,
    paramNames: initParams.map((p) => p.param),
    baseEnv: baseEnvOf(plan.stateSecret, options.branch, initParams),
    templates: [],
    dagTasks: [],
    unitLabel: new Map(),
  };
  addInitTemplates(b);
  for (const unit of plan.units) addUnitTemplates(b, unit);
  if (diagnostics.some((d) => d.severity === "error")) throw new SpecError(diagnostics);

  const workflow = workflowObject({ kind, graphLabel, namespace, serviceAccountName }, b);
  const context = templateContext(input, plan.units, workflow, b.unitLabel);
  return { workflow, context, diagnostics, graphLabel };
}

/** Reports a namespace or service account that Kubernetes would refuse. */
function checkIdentifiers(
  options: ArgoOptions,
  argo: ArgoConfig,
  fail: Fail,
): Pick<WorkflowSettings, "namespace" | "serviceAccountName"> {
  const namespace = options.namespace ?? argo.namespace;
  if (namespace !== undefined && !(namespace.length <= 63 && DNS_LABEL.test(namespace)))
    fail(
      "config.argo.namespace",
      `namespace ${JSON.stringify(namespace)} is not a valid Kubernetes namespace`,
      "use lowercase letters, digits and '-' (at most 63)",
    );
  const serviceAccountName = options.serviceAccountName ?? argo.serviceAccountName;
  if (
    serviceAccountName !== undefined &&
    !(serviceAccountName.length <= 253 && DNS_SUBDOMAIN.test(serviceAccountName))
  )
    fail(
      "config.argo.service_account_name",
      `service account ${JSON.stringify(serviceAccountName)} is not a valid Kubernetes name`,
      "use lowercase letters, digits, '-' and '.'",
    );
  return { namespace, serviceAccountName };
}

/** Reports a user string that Argo would evaluate (`{{`) or that is not valid Unicode. */
function checkNoTag(
  fail: Fail,
  path: string,
  what: string,
  value: string | undefined,
  task?: GraphTask,
): void {
  if (value !== undefined && hasArgoTag(value))
    fail(
      path,
      `${what} ${JSON.stringify(value)} contains "{{", which Argo would evaluate (it has no escape for it)`,
      "remove the braces",
      task,
    );
  if (value !== undefined && !isWellFormedUnicode(value))
    fail(
      path,
      `${what} ${JSON.stringify(value)} is not valid Unicode (a lone surrogate)`,
      undefined,
      task,
    );
}

/** Distinct DNS labels for every template: units, their fan-out parts, init templates. */
function assignNames(units: PlanUnit[], argo: ArgoConfig): (key: string) => string {
  const requests: LabelRequest[] = [];
  for (const u of units) {
    requests.push({ key: `unit:${u.name}`, name: u.name });
    if (u.fanOut === undefined) continue;
    requests.push({ key: `items:${u.name}`, name: u.name, suffix: "-items" });
    if (u.fanOut.groupSize !== undefined)
      requests.push({ key: `each:${u.name}`, name: u.name, suffix: "-each" });
  }
  for (const init of argo.initTemplates)
    requests.push({ key: `init:${init.name}`, name: `init-${init.name}` });
  const labels = assignDnsLabels(requests, ["main"]);
  return (key: string) => labels.get(key)!;
}

/** The Workflow (or WorkflowTemplate): metadata, then `main`'s DAG before the other templates. */
function workflowObject(settings: WorkflowSettings, b: ArgoBuild): Json {
  const { kind, graphLabel, namespace, serviceAccountName } = settings;
  const metadata: Json =
    kind === "Workflow" ? { generateName: `${graphLabel}-` } : { name: graphLabel };
  if (namespace !== undefined) metadata.namespace = namespace;
  metadata.labels = {
    "app.kubernetes.io/managed-by": "dagwright",
    "dagwright.io/graph": graphLabel,
  };
  const workflowSpec: Json = { entrypoint: "main" };
  if (serviceAccountName !== undefined) workflowSpec.serviceAccountName = serviceAccountName;
  workflowSpec.templates = [{ name: "main", dag: { tasks: b.dagTasks } }, ...b.templates];
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind,
    metadata,
    spec: workflowSpec,
  };
}

/** What a whole-file override template sees, from the built workflow and its unit names. */
function templateContext(
  input: ArgoInput,
  units: PlanUnit[],
  workflow: Json,
  unitLabel: Map<string, string>,
): ArgoTemplateContext {
  const { graph } = input;
  const unitOfTask = new Map(units.flatMap((u) => u.tasks.map((t) => [t, u] as const)));
  return {
    workflow,
    yaml: toYaml,
    graph: graph.name,
    tasks: graph.order.map((t) => {
      const u = unitOfTask.get(t)!;
      return {
        name: t,
        unit: u.name,
        dagTask: unitLabel.get(u.name)!,
        fanOut: graph.tasks[t]!.spec.mapOver !== undefined,
      };
    }),
    units: units.map((u) => ({
      name: u.name,
      kind: u.kind,
      dagTask: unitLabel.get(u.name)!,
      tasks: [...u.tasks],
      deps: [...u.deps],
    })),
  };
}
