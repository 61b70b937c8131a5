import { parseAllDocuments } from "yaml";
import type { Unit } from "../graph/fuse-groups.js";
import type { GraphTask } from "../graph/graph.js";
import { type Diagnostic, formatDiagnostic } from "../spec/diagnostic.js";
import { didYouMean } from "../spec/did-you-mean.js";
import { DagwrightError, SpecError } from "../spec/errors.js";
import type { Compute } from "../spec/types.js";
import { readArgoConfig } from "./argo-config.js";
import { kubeQuantities, type PlanUnit, planDeployment, reportInto } from "./deployment-plan.js";
import { renderFileTemplate } from "./file-template.js";
import { assignDnsLabels, type LabelRequest } from "./names.js";
import { escapeKubeVars, hasArgoTag, isWellFormedUnicode, toBase64, toYaml } from "./quote.js";
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

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Json;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SAFE_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const NOT_CONTAINER = [
  "steps",
  "dag",
  "script",
  "resource",
  "containerSet",
  "data",
  "http",
  "plugin",
  "suspend",
];
const GPU_TOLERATION = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
/** Prefix of env vars that carry a value containing `{{` (base64 of its UTF-8). */
export const ENV_B64_PREFIX = "DAGWRIGHT_ENV_B64_";

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
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

function buildWorkflow(input: ArgoInput): {
  workflow: Json;
  context: ArgoTemplateContext;
  diagnostics: Diagnostic[];
  graphLabel: string;
} {
  const { graph, config, options } = input;
  const diagnostics: Diagnostic[] = [];
  const report = reportInto(diagnostics, "argo");
  const fail = (path: string, message: string, hint?: string, task?: GraphTask) =>
    report("error", path, message, hint, task);

  const argo = readArgoConfig(config, diagnostics);
  const kind = options.kind ?? "Workflow";
  const noTag = (path: string, what: string, value: string | undefined, task?: GraphTask) => {
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
  };
  // Settings that are identifiers: checked, never rewritten.
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
  const workingDir = argo.workingDir;
  noTag("config.argo.working_dir", "working_dir", workingDir);
  noTag("branch", "the branch", options.branch);
  const plan = planDeployment(
    input,
    {
      output: "Argo manifest",
      ...pick(options, ["image", "stateUrlSecret", "env", "groupTagPrefix"]),
      checkArg: (value, what, path, task) => noTag(path, what, value, task),
    },
    report,
    diagnostics,
  );
  const { image, stateSecret } = plan;
  // Names.
  const units = plan.units;
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
  const label = (key: string) => labels.get(key)!;
  const graphLabel = assignDnsLabels([
    { key: "graph", name: graph.name, maxLength: kind === "Workflow" ? 57 : 63 },
  ]).get("graph")!;

  // Init templates: their outputs reach every unit as DAG arguments → inputs → env values.
  const initLabels = argo.initTemplates.map((i) => label(`init:${i.name}`));
  const initParams: { param: string; env: string; from: string }[] = [];
  const initEnvOwner = new Map<string, string>();
  for (const [i, init] of argo.initTemplates.entries()) {
    for (const out of init.outputs) {
      const env = out.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
      const owner = initEnvOwner.get(env);
      if (owner !== undefined)
        fail(
          `config.argo.init_templates[${i}].outputs`,
          `init templates "${owner}" and "${init.name}" both set environment variable ${env}`,
          "rename one of the output parameters",
        );
      initEnvOwner.set(env, init.name);
      initParams.push({
        param: `${initLabels[i]}-${out}`,
        env,
        from: `{{tasks.${initLabels[i]}.outputs.parameters.${out}}}`,
      });
    }
  }
  const paramNames = initParams.map((p) => p.param);
  const withInit = (params: Json[]): Json | undefined => {
    const all = [...params, ...initParams.map((p) => ({ name: p.param, value: p.from }))];
    return all.length > 0 ? { parameters: all } : undefined;
  };

  const baseEnv: EnvVar[] = [
    {
      name: "DAGWRIGHT_STATE_URL",
      valueFrom: { secretKeyRef: { name: stateSecret.name, key: stateSecret.key } },
    },
    { name: "DAGWRIGHT_RUN_ID", value: "{{workflow.name}}" },
  ];
  if (options.branch !== undefined)
    baseEnv.push({ name: "DAGWRIGHT_BRANCH", value: escapeKubeVars(options.branch) });
  for (const p of initParams)
    baseEnv.push({ name: p.env, value: `{{inputs.parameters.${p.param}}}` });

  /** The container env of a unit: ours, then the members' env values and secret references. */
  const unitEnv = (unit: PlanUnit): EnvVar[] => {
    const env: EnvVar[] = [...baseEnv];
    for (const [k, value] of unit.env) {
      env.push(
        hasArgoTag(value)
          ? { name: `${ENV_B64_PREFIX}${k}`, value: toBase64(value) }
          : { name: k, value: escapeKubeVars(value) },
      );
    }
    for (const s of unit.secrets)
      env.push({ name: s.env, valueFrom: { secretKeyRef: { name: s.name, key: s.key } } });
    const seen = new Set<string>();
    for (const e of env) {
      if (seen.has(e.name))
        fail(
          `tasks.${unit.members[0]!.name}`,
          `${unit.kind} "${unit.name}": environment variable ${e.name} is set twice in its container (env, secrets or an init template output)`,
          "rename one of them",
          unit.members[0],
        );
      seen.add(e.name);
    }
    return env;
  };

  /** The custom template (`template: NAME`) of a unit, if any. */
  const customOf = (unit: Unit, tasks: GraphTask[]): Json | undefined => {
    const named = [...new Set(tasks.map((t) => t.spec.template).filter((n) => n !== undefined))];
    if (named.length > 1) {
      fail(
        `tasks.${tasks[0]!.name}.template`,
        `group "${unit.name}" mixes templates ${named.map((n) => `"${n}"`).join(", ")}, but runs in one pod`,
        "give its tasks one template, or split the group",
        tasks[0],
      );
      return undefined;
    }
    const name = named[0];
    if (name === undefined) return undefined;
    const task = tasks.find((t) => t.spec.template === name)!;
    const fields = argo.templates[name];
    const declared = Object.keys(argo.templates);
    if (fields === undefined) {
      fail(
        `tasks.${task.name}.template`,
        `task "${task.name}" uses template "${name}", which config.argo.templates does not declare.${didYouMean(name, declared)}`.replace(
          /\.$/,
          "",
        ),
        declared.length > 0
          ? `declared templates: ${declared.join(", ")}`
          : `declare it: config: {argo: {templates: {${name}: {sidecars: [...]}}}}`,
        task,
      );
      return undefined;
    }
    const other = NOT_CONTAINER.find((k) => k in fields);
    if (other !== undefined) {
      fail(
        `config.argo.templates.${name}`,
        `template "${name}" (used by task "${task.name}") has \`${other}\`, but a task template must run a container`,
        "keep container fields, sidecars, volumes, metadata and pod settings; dagwright sets command and args",
        task,
      );
      return undefined;
    }
    return structuredClone(fields);
  };

  const container = (args: string[], env: EnvVar[], compute: Compute): Json => {
    const c: Json = { image, command: ["dagwright"], args, env };
    if (workingDir !== undefined) c.workingDir = workingDir;
    const resources = resourcesOf(compute);
    if (resources !== undefined) c.resources = resources;
    return c;
  };

  const runTemplate = (
    name: string,
    params: string[],
    c: Json,
    settings: { gpu: boolean; retries: number; timeoutSeconds: number | undefined },
    custom?: Json,
  ): Json => {
    const t: Json = { name };
    if (params.length > 0) t.inputs = { parameters: params.map((p) => ({ name: p })) };
    t.container = c;
    if (settings.gpu) t.tolerations = [{ ...GPU_TOLERATION }];
    if (settings.retries > 0)
      t.retryStrategy = { limit: String(settings.retries), retryPolicy: "Always" };
    if (settings.timeoutSeconds !== undefined)
      t.activeDeadlineSeconds = Math.max(1, Math.ceil(settings.timeoutSeconds));
    return custom === undefined ? t : mergeCustom(custom, t);
  };

  const templates: Json[] = [];
  const dagTasks: Json[] = [];
  const dagTask = (name: string, deps: string[], args: Json | undefined, extra: Json = {}) => {
    const t: Json = { name, template: name };
    if (deps.length > 0) t.dependencies = deps;
    if (args !== undefined) t.arguments = args;
    dagTasks.push({ ...t, ...extra });
  };

  for (const [i, init] of argo.initTemplates.entries()) {
    const { name: _ignored, ...fields } = structuredClone(init.template);
    templates.push({ name: initLabels[i], ...fields });
    dagTask(initLabels[i]!, [], undefined);
  }

  const unitLabel = new Map<string, string>();
  const esc = (args: string[]) => args.map(escapeKubeVars);
  for (const unit of units) {
    const name = label(`unit:${unit.name}`);
    unitLabel.set(unit.name, name);
    const deps = unit.deps.map((d) => unitLabel.get(d)!);
    const upstream = deps.length > 0 ? deps : initLabels;
    const env = unitEnv(unit);
    const custom = customOf(unit, unit.members);
    const settings = {
      gpu: (unit.compute.gpu ?? 0) > 0,
      retries: unit.retries,
      timeoutSeconds: unit.timeoutSeconds,
    };
    const fanOut = unit.fanOut;
    if (fanOut === undefined) {
      const args = esc(unit.command);
      templates.push(
        runTemplate(name, paramNames, container(args, env, unit.compute), settings, custom),
      );
      dagTask(name, upstream, withInit([]));
      continue;
    }

    // Fan-out: list the items (or bundles), then one pod per item.
    const items = label(`items:${unit.name}`);
    templates.push(
      runTemplate(items, paramNames, container(esc(fanOut.list), [...baseEnv], {}), {
        gpu: false,
        retries: settings.retries,
        timeoutSeconds: undefined,
      }),
    );
    dagTask(items, upstream, withInit([]));
    const runArgs = esc(fanOut.item("{{inputs.parameters.item}}"));
    const result = `{{tasks.${items}.outputs.result}}`;
    const itemParams = ["item", ...paramNames];
    if (fanOut.groupSize === undefined) {
      templates.push(
        runTemplate(name, itemParams, container(runArgs, env, unit.compute), settings, custom),
      );
      dagTask(name, [items], withInit([{ name: "item", value: "{{item}}" }]), {
        withParam: result,
      });
    } else {
      // Argo limits parallel pods per template invocation, so the items run in a nested DAG.
      const each = label(`each:${unit.name}`);
      templates.push({
        name,
        inputs: { parameters: [{ name: "items" }, ...paramNames.map((p) => ({ name: p }))] },
        parallelism: fanOut.groupSize,
        dag: {
          tasks: [
            {
              name: "each",
              template: each,
              arguments: {
                parameters: [
                  { name: "item", value: "{{item}}" },
                  ...paramNames.map((p) => ({ name: p, value: `{{inputs.parameters.${p}}}` })),
                ],
              },
              withParam: "{{inputs.parameters.items}}",
            },
          ],
        },
      });
      templates.push(
        runTemplate(each, itemParams, container(runArgs, env, unit.compute), settings, custom),
      );
      dagTask(name, [items], withInit([{ name: "items", value: result }]));
    }
  }

  if (diagnostics.some((d) => d.severity === "error")) throw new SpecError(diagnostics);

  const metadata: Json =
    kind === "Workflow" ? { generateName: `${graphLabel}-` } : { name: graphLabel };
  if (namespace !== undefined) metadata.namespace = namespace;
  metadata.labels = {
    "app.kubernetes.io/managed-by": "dagwright",
    "dagwright.io/graph": graphLabel,
  };
  const workflowSpec: Json = { entrypoint: "main" };
  if (serviceAccountName !== undefined) workflowSpec.serviceAccountName = serviceAccountName;
  workflowSpec.templates = [{ name: "main", dag: { tasks: dagTasks } }, ...templates];
  const workflow: Json = {
    apiVersion: "argoproj.io/v1alpha1",
    kind,
    metadata,
    spec: workflowSpec,
  };

  const unitOfTask = new Map(units.flatMap((u) => u.tasks.map((t) => [t, u] as const)));
  const context: ArgoTemplateContext = {
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
  return { workflow, context, diagnostics, graphLabel };
}

/** Kubernetes requests = limits from normalized compute (cpu in vCPUs, memory in MiB). */
function resourcesOf(c: Compute): Json | undefined {
  const q = kubeQuantities(c);
  return q !== undefined ? { requests: { ...q }, limits: { ...q } } : undefined;
}

/**
 * A custom template (`config.argo.templates.NAME`) with dagwright's container merged in: its own
 * fields (sidecars, volumes, metadata, pod settings) and container fields (image, volumeMounts,
 * extra env, resources and workingDir unless the task sets them) are kept; command and args are
 * always dagwright's, and its env comes first.
 */
function mergeCustom(custom: Json, ours: Json): Json {
  const { name: _ignored, inputs, container, tolerations, ...rest } = custom;
  const out: Json = { name: ours.name };
  const ourInputs = (ours.inputs as { parameters: Json[] } | undefined)?.parameters ?? [];
  const ourParams = new Set(ourInputs.map((p) => p.name));
  if (isRecord(inputs)) {
    const theirs = Array.isArray(inputs.parameters) ? inputs.parameters : [];
    const parameters = [
      ...ourInputs,
      ...theirs.filter((p) => !(isRecord(p) && ourParams.has(p.name))),
    ];
    out.inputs = { ...inputs, ...(parameters.length > 0 ? { parameters } : {}) };
  } else if (ours.inputs !== undefined) out.inputs = ours.inputs;
  Object.assign(out, rest);
  const theirs = isRecord(container) ? container : {};
  const oc = ours.container as Json & { env: EnvVar[] };
  const ourEnv = new Set(oc.env.map((e) => e.name));
  const theirEnv = Array.isArray(theirs.env)
    ? theirs.env.filter((e) => !(isRecord(e) && ourEnv.has(e.name as string)))
    : [];
  const {
    image,
    command: _command,
    args: _args,
    env: _env,
    workingDir,
    resources,
    ...other
  } = theirs;
  const merged: Json = { image: image ?? oc.image, command: oc.command, args: oc.args };
  merged.env = [...oc.env, ...theirEnv];
  if ((oc.workingDir ?? workingDir) !== undefined) merged.workingDir = oc.workingDir ?? workingDir;
  if ((oc.resources ?? resources) !== undefined) merged.resources = oc.resources ?? resources;
  Object.assign(merged, other);
  out.container = merged;
  const theirTolerations = Array.isArray(tolerations) ? tolerations : [];
  const ourTolerations = (ours.tolerations as Json[] | undefined) ?? [];
  const allTolerations = [
    ...theirTolerations,
    ...ourTolerations.filter(
      (t) => !theirTolerations.some((x) => isRecord(x) && x.key === t.key && x.effect === t.effect),
    ),
  ];
  if (allTolerations.length > 0) out.tolerations = allTolerations;
  if (ours.retryStrategy !== undefined) out.retryStrategy = ours.retryStrategy;
  if (ours.activeDeadlineSeconds !== undefined)
    out.activeDeadlineSeconds = ours.activeDeadlineSeconds;
  return out;
}
