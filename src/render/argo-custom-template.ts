import type { GraphTask } from "../graph/graph.js";
import { didYouMean } from "../spec/did-you-mean.js";
import type { PlanUnit } from "./deployment-plan.js";

type Json = Record<string, unknown>;

/** Reports an error of the render at `path`; `task` gives it a location. */
export type Fail = (path: string, message: string, hint?: string, task?: GraphTask) => void;

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

function isRecord(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The custom template (`template: NAME`, from `config.argo.templates`) of a unit, as a copy, or
 * undefined when it has none. Reports (and returns undefined) when the members name different
 * templates, when the name is not declared, or when the template does not run a container.
 */
export function customTemplateOf(
  fail: Fail,
  declaredTemplates: Record<string, Json>,
  unit: PlanUnit,
): Json | undefined {
  const tasks = unit.members;
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
  const fields = declaredTemplates[name];
  const declared = Object.keys(declaredTemplates);
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
}

/**
 * A custom template (`config.argo.templates.NAME`) with dagwright's container merged in: its own
 * fields (sidecars, volumes, metadata, pod settings) and container fields (image, volumeMounts,
 * extra env, resources and workingDir unless the task sets them) are kept; command and args are
 * always dagwright's, and its env comes first.
 */
export function mergeCustom(custom: Json, ours: Json): Json {
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
  out.container = mergeContainer(isRecord(container) ? container : {}, ours.container as Json);
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

function mergeContainer(theirs: Json, ours: Json): Json {
  const oc = ours as Json & { env: { name: string }[] };
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
  return merged;
}
