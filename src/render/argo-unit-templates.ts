import type { Compute } from "../spec/types.js";
import type { ArgoConfig } from "./argo-config.js";
import { customTemplateOf, type Fail, mergeCustom } from "./argo-custom-template.js";
import {
  kubeQuantities,
  type PlanFanOut,
  type PlanUnit,
  type SecretKey,
} from "./deployment-plan.js";
import { escapeKubeVars, hasArgoTag, toBase64 } from "./quote.js";

type Json = Record<string, unknown>;

/** A container env entry: a value, or a reference (`valueFrom`). */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Json;
}

/** One init template output, wired to every unit: DAG argument → template input → env value. */
export interface InitParam {
  /** The input parameter's name. */
  param: string;
  /** The env variable it sets. */
  env: string;
  /** The Argo expression of the init task's output. */
  from: string;
}

/**
 * What the templates of one Argo render share. {@link addInitTemplates} and
 * {@link addUnitTemplates} append to `templates` and `dagTasks` and fill `unitLabel`.
 */
export interface ArgoBuild {
  fail: Fail;
  argo: ArgoConfig;
  image: string;
  /** The DNS label assigned to a name request (`unit:`, `items:`, `each:` or `init:` + name). */
  label: (key: string) => string;
  /** The DAG task of each init template, in `argo.initTemplates` order. */
  initLabels: string[];
  initParams: InitParam[];
  /** The names of `initParams`: every unit template takes them as inputs. */
  paramNames: string[];
  /** The env every container starts with. */
  baseEnv: EnvVar[];
  templates: Json[];
  dagTasks: Json[];
  /** Unit name → its DAG task. */
  unitLabel: Map<string, string>;
}

/** Prefix of env vars that carry a value containing `{{` (base64 of its UTF-8). */
export const ENV_B64_PREFIX = "DAGWRIGHT_ENV_B64_";

const GPU_TOLERATION = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };

interface RunSettings {
  gpu: boolean;
  retries: number;
  timeoutSeconds: number | undefined;
}

/** What the templates of one unit share. */
interface UnitParts {
  name: string;
  upstream: string[];
  env: EnvVar[];
  custom: Json | undefined;
  settings: RunSettings;
}

/**
 * The outputs of the init templates as parameters every unit receives (env name: the output in
 * upper case, other characters as `_`). Reports two init templates that set the same env name.
 */
export function initParamsOf(argo: ArgoConfig, initLabels: string[], fail: Fail): InitParam[] {
  const initParams: InitParam[] = [];
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
  return initParams;
}

/** The env of every container: the state store URL, the run id, the branch, init outputs. */
export function baseEnvOf(
  stateSecret: SecretKey,
  branch: string | undefined,
  initParams: InitParam[],
): EnvVar[] {
  const baseEnv: EnvVar[] = [
    {
      name: "DAGWRIGHT_STATE_URL",
      valueFrom: { secretKeyRef: { name: stateSecret.name, key: stateSecret.key } },
    },
    { name: "DAGWRIGHT_RUN_ID", value: "{{workflow.name}}" },
  ];
  if (branch !== undefined)
    baseEnv.push({ name: "DAGWRIGHT_BRANCH", value: escapeKubeVars(branch) });
  for (const p of initParams)
    baseEnv.push({ name: p.env, value: `{{inputs.parameters.${p.param}}}` });
  return baseEnv;
}

/** Adds each init template (its own fields, our name) and its DAG task, which has no deps. */
export function addInitTemplates(b: ArgoBuild): void {
  for (const [i, init] of b.argo.initTemplates.entries()) {
    const { name: _ignored, ...fields } = structuredClone(init.template);
    b.templates.push({ name: b.initLabels[i], ...fields });
    addDagTask(b, b.initLabels[i]!, [], undefined);
  }
}

/**
 * Adds the templates and DAG tasks of one unit (after those of its deps): one run template, or
 * for a fan-out a listing template and one pod per item. Reports env names set twice and a bad
 * custom template.
 */
export function addUnitTemplates(b: ArgoBuild, unit: PlanUnit): void {
  const name = b.label(`unit:${unit.name}`);
  b.unitLabel.set(unit.name, name);
  const deps = unit.deps.map((d) => b.unitLabel.get(d)!);
  const parts: UnitParts = {
    name,
    upstream: deps.length > 0 ? deps : b.initLabels,
    env: unitEnv(b, unit),
    custom: customTemplateOf(b.fail, b.argo.templates, unit),
    settings: {
      gpu: (unit.compute.gpu ?? 0) > 0,
      retries: unit.retries,
      timeoutSeconds: unit.timeoutSeconds,
    },
  };
  if (unit.fanOut !== undefined) {
    addFanOutTemplates(b, unit, unit.fanOut, parts);
    return;
  }
  const c = container(b, esc(unit.command), parts.env, unit.compute);
  b.templates.push(runTemplate(name, b.paramNames, c, parts.settings, parts.custom));
  addDagTask(b, name, parts.upstream, withInit(b, []));
}

/** Fan-out: list the items (or bundles), then one pod per item. */
function addFanOutTemplates(b: ArgoBuild, unit: PlanUnit, fanOut: PlanFanOut, parts: UnitParts) {
  const { name, env, custom, settings } = parts;
  const items = b.label(`items:${unit.name}`);
  b.templates.push(
    runTemplate(items, b.paramNames, container(b, esc(fanOut.list), [...b.baseEnv], {}), {
      gpu: false,
      retries: settings.retries,
      timeoutSeconds: undefined,
    }),
  );
  addDagTask(b, items, parts.upstream, withInit(b, []));
  const runArgs = esc(fanOut.item("{{inputs.parameters.item}}"));
  const result = `{{tasks.${items}.outputs.result}}`;
  const itemParams = ["item", ...b.paramNames];
  const run = container(b, runArgs, env, unit.compute);
  if (fanOut.groupSize === undefined) {
    b.templates.push(runTemplate(name, itemParams, run, settings, custom));
    addDagTask(b, name, [items], withInit(b, [{ name: "item", value: "{{item}}" }]), {
      withParam: result,
    });
    return;
  }
  // Argo limits parallel pods per template invocation, so the items run in a nested DAG.
  const each = b.label(`each:${unit.name}`);
  b.templates.push(nestedItemsDag(name, each, fanOut.groupSize, b.paramNames));
  b.templates.push(runTemplate(each, itemParams, run, settings, custom));
  addDagTask(b, name, [items], withInit(b, [{ name: "items", value: result }]));
}

function nestedItemsDag(name: string, each: string, parallelism: number, paramNames: string[]) {
  return {
    name,
    inputs: { parameters: [{ name: "items" }, ...paramNames.map((p) => ({ name: p }))] },
    parallelism,
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
  };
}

function esc(args: string[]): string[] {
  return args.map(escapeKubeVars);
}

/** The container env of a unit: ours, then the members' env values and secret references. */
function unitEnv(b: ArgoBuild, unit: PlanUnit): EnvVar[] {
  const env: EnvVar[] = [...b.baseEnv];
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
      b.fail(
        `tasks.${unit.members[0]!.name}`,
        `${unit.kind} "${unit.name}": environment variable ${e.name} is set twice in its container (env, secrets or an init template output)`,
        "rename one of them",
        unit.members[0],
      );
    seen.add(e.name);
  }
  return env;
}

/** The DAG arguments of a unit: `params`, then every init output; undefined when none. */
function withInit(b: ArgoBuild, params: Json[]): Json | undefined {
  const all = [...params, ...b.initParams.map((p) => ({ name: p.param, value: p.from }))];
  return all.length > 0 ? { parameters: all } : undefined;
}

function container(b: ArgoBuild, args: string[], env: EnvVar[], compute: Compute): Json {
  const c: Json = { image: b.image, command: ["dagwright"], args, env };
  if (b.argo.workingDir !== undefined) c.workingDir = b.argo.workingDir;
  const resources = resourcesOf(compute);
  if (resources !== undefined) c.resources = resources;
  return c;
}

function runTemplate(
  name: string,
  params: string[],
  c: Json,
  settings: RunSettings,
  custom?: Json,
): Json {
  const t: Json = { name };
  if (params.length > 0) t.inputs = { parameters: params.map((p) => ({ name: p })) };
  t.container = c;
  if (settings.gpu) t.tolerations = [{ ...GPU_TOLERATION }];
  if (settings.retries > 0)
    t.retryStrategy = { limit: String(settings.retries), retryPolicy: "Always" };
  if (settings.timeoutSeconds !== undefined)
    t.activeDeadlineSeconds = Math.max(1, Math.ceil(settings.timeoutSeconds));
  return custom === undefined ? t : mergeCustom(custom, t);
}

function addDagTask(
  b: ArgoBuild,
  name: string,
  deps: string[],
  args: Json | undefined,
  extra: Json = {},
): void {
  const t: Json = { name, template: name };
  if (deps.length > 0) t.dependencies = deps;
  if (args !== undefined) t.arguments = args;
  b.dagTasks.push({ ...t, ...extra });
}

/** Kubernetes requests = limits from normalized compute (cpu in vCPUs, memory in MiB). */
function resourcesOf(c: Compute): Json | undefined {
  const q = kubeQuantities(c);
  return q !== undefined ? { requests: { ...q }, limits: { ...q } } : undefined;
}
