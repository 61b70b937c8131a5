import type { Diagnostic } from "../spec/diagnostic.js";
import { didYouMean } from "../spec/did-you-mean.js";
import type { Compute } from "../spec/types.js";

/** One `config.argo.init_templates` entry: an Argo template run before every task. */
export interface InitTemplate {
  name: string;
  /** The Argo template as written (its `name` is replaced when rendered). */
  template: Record<string, unknown>;
  /** Output parameters passed to every task (default: all the template declares). */
  outputs: string[];
}

/** `config.argo`, read and checked. Everything Argo-native in it is passed through verbatim. */
export interface ArgoConfig {
  workingDir?: string;
  namespace?: string;
  serviceAccountName?: string;
  /** `templates.NAME`: Argo template fields for tasks with `template: NAME`. */
  templates: Record<string, Record<string, unknown>>;
  initTemplates: InitTemplate[];
}

const ARGO_KEYS = [
  "working_dir",
  "namespace",
  "service_account_name",
  "templates",
  "init_templates",
] as const;
const MACHINE_KEYS = ["cpu", "memory", "gpu"] as const;
/** Argo's rule for parameter names (`isValidParamOrArtifactName`). */
const PARAM_NAME = /^[-a-zA-Z0-9_]+$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function problem(path: string, message: string, hint: string): Diagnostic {
  return { severity: "error", kind: "invalid-config", path, message, ...(hint ? { hint } : {}) };
}

/**
 * Reads `config.argo` (`working_dir`, `namespace`, `service_account_name`, `templates`,
 * `init_templates`). Every problem is pushed to `diagnostics`; what is readable is returned.
 */
export function readArgoConfig(
  config: Record<string, unknown>,
  diagnostics: Diagnostic[],
): ArgoConfig {
  const out: ArgoConfig = { templates: {}, initTemplates: [] };
  const argo = config.argo;
  if (argo === undefined) return out;
  if (!isRecord(argo)) {
    diagnostics.push(
      problem("config.argo", "expected a map", "e.g. `argo: {working_dir: /app, templates: {}}`"),
    );
    return out;
  }
  for (const key of Object.keys(argo)) {
    if (!(ARGO_KEYS as readonly string[]).includes(key)) {
      diagnostics.push(
        problem(
          `config.argo.${key}`,
          `unknown key "${key}".${didYouMean(key, ARGO_KEYS)}`.replace(/\.$/, ""),
          `config.argo keys: ${ARGO_KEYS.join(", ")}`,
        ),
      );
    }
  }
  const text = (key: (typeof ARGO_KEYS)[number]): string | undefined => {
    const v = argo[key];
    if (v === undefined || typeof v === "string") return v;
    diagnostics.push(
      problem(`config.argo.${key}`, `expected a string, received ${JSON.stringify(v)}`, ""),
    );
    return undefined;
  };
  const workingDir = text("working_dir");
  const namespace = text("namespace");
  const serviceAccountName = text("service_account_name");
  if (workingDir !== undefined) out.workingDir = workingDir;
  if (namespace !== undefined) out.namespace = namespace;
  if (serviceAccountName !== undefined) out.serviceAccountName = serviceAccountName;

  out.templates = readTemplates(argo.templates, diagnostics);
  out.initTemplates = readInitTemplates(argo.init_templates, diagnostics);
  return out;
}

/** `config.argo.templates`: name → Argo template fields; entries that are not maps are reported. */
function readTemplates(
  templates: unknown,
  diagnostics: Diagnostic[],
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  if (templates === undefined) return out;
  if (!isRecord(templates)) {
    diagnostics.push(
      problem(
        "config.argo.templates",
        "expected a map of template name → Argo template fields",
        "e.g. `templates: {neo4j: {sidecars: [...]}}`",
      ),
    );
    return out;
  }
  for (const [name, t] of Object.entries(templates)) {
    if (isRecord(t)) out[name] = t;
    else
      diagnostics.push(
        problem(
          `config.argo.templates.${name}`,
          "expected a map of Argo template fields (container, sidecars, volumes, ...)",
          "",
        ),
      );
  }
  return out;
}

/** `config.argo.init_templates`: the readable entries, in order; names are unique. */
function readInitTemplates(inits: unknown, diagnostics: Diagnostic[]): InitTemplate[] {
  if (inits === undefined) return [];
  if (!Array.isArray(inits)) {
    diagnostics.push(
      problem(
        "config.argo.init_templates",
        "expected a list of {name, template, outputs}",
        "e.g. `init_templates: [{name: setup, template: {container: {...}}, outputs: [url]}]`",
      ),
    );
    return [];
  }
  const out: InitTemplate[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of inits.entries()) {
    const init = readInitTemplate(entry, `config.argo.init_templates[${i}]`, seen, diagnostics);
    if (init !== undefined) out.push(init);
  }
  return out;
}

/** One init template entry at `at`, or undefined when its shape is wrong or its name taken. */
function readInitTemplate(
  entry: unknown,
  at: string,
  seen: Set<string>,
  diagnostics: Diagnostic[],
): InitTemplate | undefined {
  if (
    !isRecord(entry) ||
    typeof entry.name !== "string" ||
    entry.name === "" ||
    !isRecord(entry.template)
  ) {
    diagnostics.push(
      problem(
        at,
        "expected {name: string, template: {...Argo template}, outputs?: [parameter names]}",
        "",
      ),
    );
    return undefined;
  }
  for (const key of Object.keys(entry)) {
    if (!["name", "template", "outputs"].includes(key))
      diagnostics.push(
        problem(`${at}.${key}`, `unknown key "${key}"`, "keys: name, template, outputs"),
      );
  }
  if (seen.has(entry.name)) {
    diagnostics.push(problem(`${at}.name`, `init template "${entry.name}" is declared twice`, ""));
    return undefined;
  }
  seen.add(entry.name);
  const outputs = initOutputs(entry.name, entry.template, entry.outputs, at, diagnostics);
  if (outputs === undefined) return undefined;
  return { name: entry.name, template: entry.template, outputs };
}

/**
 * The outputs an init template passes on: `listed` (each must be declared by its template), or
 * all it declares; undefined when `listed` is not a list of names. Reports invalid names.
 */
function initOutputs(
  name: string,
  template: Record<string, unknown>,
  listed: unknown,
  at: string,
  diagnostics: Diagnostic[],
): string[] | undefined {
  const declared = declaredOutputs(template);
  let outputs = declared;
  if (listed !== undefined) {
    if (!Array.isArray(listed) || !listed.every((o): o is string => typeof o === "string")) {
      diagnostics.push(problem(`${at}.outputs`, "expected a list of output parameter names", ""));
      return undefined;
    }
    outputs = listed;
    for (const o of outputs) {
      if (!declared.includes(o))
        diagnostics.push(
          problem(
            `${at}.outputs`,
            `init template "${name}" lists output "${o}", which its template does not declare`,
            `declare it under template.outputs.parameters (declared: ${declared.join(", ") || "none"})`,
          ),
        );
    }
  }
  for (const o of outputs) {
    if (!PARAM_NAME.test(o))
      diagnostics.push(
        problem(
          `${at}.outputs`,
          `output "${o}" of init template "${name}" is not a valid Argo parameter name`,
          "use letters, digits, '-' and '_'",
        ),
      );
  }
  return outputs;
}

function declaredOutputs(template: Record<string, unknown>): string[] {
  const outputs = template.outputs;
  if (!isRecord(outputs) || !Array.isArray(outputs.parameters)) return [];
  return outputs.parameters
    .map((p: unknown) => (isRecord(p) && typeof p.name === "string" ? p.name : undefined))
    .filter((n): n is string => n !== undefined);
}

/**
 * Reads `config.machine_types` (`{name: {cpu: vCPUs, memory: MiB, gpu: count}}`, argo-kedro
 * style) into normalized {@link Compute}. Problems are pushed to `diagnostics`.
 */
export function readMachineTypes(
  config: Record<string, unknown>,
  diagnostics: Diagnostic[],
): Record<string, Compute> {
  const raw = config.machine_types;
  const out: Record<string, Compute> = {};
  if (raw === undefined) return out;
  const hint = "e.g. `machine_types: {gpu_small: {cpu: 4, memory: 16384, gpu: 1}}` (memory in MiB)";
  if (!isRecord(raw)) {
    diagnostics.push(problem("config.machine_types", "expected a map of machine types", hint));
    return out;
  }
  for (const [name, m] of Object.entries(raw)) {
    const at = `config.machine_types.${name}`;
    if (!isRecord(m)) {
      diagnostics.push(problem(at, "expected {cpu, memory, gpu}", hint));
      continue;
    }
    const compute: Compute = {};
    for (const [key, v] of Object.entries(m)) {
      if (!(MACHINE_KEYS as readonly string[]).includes(key)) {
        diagnostics.push(
          problem(
            `${at}.${key}`,
            `unknown key "${key}".${didYouMean(key, MACHINE_KEYS)}`.replace(/\.$/, ""),
            key === "mem" || key === "num_gpu"
              ? "argo-kedro's `mem` (GiB) and `num_gpu` are written `memory` (MiB) and `gpu` here"
              : hint,
          ),
        );
      } else if (typeof v !== "number" || !(v >= 0) || (key === "gpu" && !Number.isInteger(v))) {
        diagnostics.push(
          problem(
            `${at}.${key}`,
            `expected a ${key === "gpu" ? "whole number" : "number"} ≥ 0, received ${JSON.stringify(v)}`,
            hint,
          ),
        );
      } else if (key === "memory") compute.memoryMiB = v;
      else compute[key as "cpu" | "gpu"] = v;
    }
    out[name] = compute;
  }
  return out;
}
