import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { parseAllDocuments } from "yaml";

/**
 * A test-only Argo Workflows validator: the official Argo JSON schema (vendored in `schemas/`,
 * see its PROVENANCE.md), made as strict as `argo lint`, plus the semantic checks a schema cannot
 * express. It stands in for `argo lint`, which would need a Go toolchain. Not covered: enums the
 * official schema lacks (e.g. `retryPolicy`), anything about a cluster (images, secrets, RBAC).
 */

const KIND_DEFINITIONS: Record<string, string> = {
  Workflow: "io.argoproj.workflow.v1alpha1.Workflow",
  WorkflowTemplate: "io.argoproj.workflow.v1alpha1.WorkflowTemplate",
  ClusterWorkflowTemplate: "io.argoproj.workflow.v1alpha1.ClusterWorkflowTemplate",
  CronWorkflow: "io.argoproj.workflow.v1alpha1.CronWorkflow",
};
const SCHEMA_FILE = fileURLToPath(new URL("./schemas/argo-workflows.schema.json", import.meta.url));
const QUANTITY =
  "^[+-]?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";
const TEMPLATE_TYPES = [
  "container",
  "script",
  "dag",
  "steps",
  "resource",
  "suspend",
  "data",
  "http",
  "containerSet",
  "plugin",
] as const;

interface SchemaDefinition {
  properties?: Record<string, { description?: string }>;
  additionalProperties?: unknown;
}
interface Parameter {
  name: string;
  value?: unknown;
  default?: unknown;
  valueFrom?: unknown;
}
interface Template {
  name: string;
  inputs?: { parameters?: Parameter[] };
  outputs?: { parameters?: { name: string }[] };
  dag?: { tasks?: DagTask[] };
  steps?: Call[][];
}
interface Call {
  name: string;
  template?: string;
  templateRef?: unknown;
  inline?: Template;
  arguments?: { parameters?: { name: string }[] };
}
interface DagTask extends Call {
  dependencies?: string[];
  depends?: string;
  withParam?: string;
  when?: string;
}
interface WorkflowSpec {
  entrypoint?: string;
  onExit?: string;
  templates?: Template[];
  arguments?: { parameters?: { name: string }[] };
  workflowTemplateRef?: unknown;
}

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

/**
 * The schema as Argo's controller decodes it: unknown fields rejected (like `argo lint`'s strict
 * decoding, so a typo such as `limt:` fails), and the three types the generated schema types as
 * plain strings widened to what the controller accepts (`limit: 3`, `cpu: 1`, `value: true`).
 */
function strictSchema(): { definitions: Record<string, SchemaDefinition> } {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as {
    definitions: Record<string, SchemaDefinition>;
    oneOf?: unknown;
  };
  const defs = schema.definitions;
  defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
    anyOf: [{ type: "integer" }, { type: "string" }],
  } as SchemaDefinition;
  defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
    anyOf: [
      { type: "number" },
      { type: "string", pattern: QUANTITY },
      { type: "string", pattern: "\\{\\{.*\\}\\}" },
    ],
  } as SchemaDefinition;
  const parameter = defs["io.argoproj.workflow.v1alpha1.Parameter"]!.properties!;
  for (const key of ["value", "default"]) {
    parameter[key] = {
      description: parameter[key]?.description,
      type: ["string", "number", "boolean"],
    } as { description?: string };
  }
  for (const def of Object.values(defs))
    if (def.properties !== undefined && def.additionalProperties === undefined)
      def.additionalProperties = false;
  // The definition is chosen by `kind`: far clearer errors than the root oneOf over every kind.
  delete schema.oneOf;
  return schema;
}

function validatorFor(kind: string): ValidateFunction | undefined {
  const definition = KIND_DEFINITIONS[kind];
  if (definition === undefined) return undefined;
  let validate = validators.get(kind);
  if (validate === undefined) {
    if (ajv === undefined) {
      ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
      ajv.addSchema(strictSchema(), "argo");
    }
    validate = ajv.getSchema(`argo#/definitions/${definition}`)!;
    validators.set(kind, validate);
  }
  return validate;
}

function schemaMessage(e: ErrorObject): string {
  const at = e.instancePath === "" ? "/" : e.instancePath;
  if (e.keyword === "additionalProperties")
    return `${at}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  if (e.keyword === "enum")
    return `${at}: ${e.message} ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}`;
  return `${at}: ${e.message}`;
}

/** `{{...}}` expressions anywhere inside `value`, trimmed. */
function expressionsIn(value: unknown): string[] {
  if (typeof value === "string")
    return [...value.matchAll(/\{\{\s*([^{}]+?)\s*\}\}/g)].map((m) => m[1]!);
  if (Array.isArray(value)) return value.flatMap(expressionsIn);
  if (value !== null && typeof value === "object")
    return Object.values(value).flatMap(expressionsIn);
  return [];
}

/** Task names a `depends` expression refers to: `A && (B.Succeeded || !C.Failed)`. */
function dependsNames(expression: string): string[] {
  return expression
    .replace(/[()!&|]/g, " ")
    .split(/\s+/)
    .filter((t) => t !== "")
    .map((t) => t.replace(/\.[A-Za-z]+$/, ""));
}

/** The first dependency cycle among `deps` as a path (`a → b → a`), or undefined. */
function findCycle(deps: Map<string, string[]>): string | undefined {
  const state = new Map<string, "open" | "done">();
  const visit = (node: string, path: string[]): string | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node].join(" → ");
    state.set(node, "open");
    for (const up of deps.get(node) ?? []) {
      const cycle = visit(up, [...path, node]);
      if (cycle !== undefined) return cycle;
    }
    state.set(node, "done");
    return undefined;
  };
  for (const node of deps.keys()) {
    const cycle = visit(node, []);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

/** The template a call (dag task or step) runs must exist and receive its required inputs. */
function callProblems(where: string, call: Call, byName: Map<string, Template>): string[] {
  if (call.templateRef !== undefined) return [];
  const target =
    call.inline ?? (call.template === undefined ? undefined : byName.get(call.template));
  if (target === undefined) return [`${where}: template "${call.template}" does not exist`];
  const given = new Set((call.arguments?.parameters ?? []).map((p) => p.name));
  return (target.inputs?.parameters ?? [])
    .filter((p) => !given.has(p.name) && p.value === undefined && p.default === undefined)
    .filter((p) => p.valueFrom === undefined)
    .map((p) => `${where}: input parameter "${p.name}" of template "${target.name}" not supplied`);
}

/** A DAG's tasks: unique, calling existing templates, depending on existing tasks, acyclic. */
function dagProblems(template: Template, byName: Map<string, Template>): string[] {
  const where = `template "${template.name}"`;
  const tasks = template.dag?.tasks ?? [];
  const problems: string[] = [];
  const names = new Map<string, DagTask>();
  for (const task of tasks) {
    if (names.has(task.name)) problems.push(`${where}: dag task "${task.name}" defined twice`);
    names.set(task.name, task);
  }
  const deps = new Map<string, string[]>();
  for (const task of tasks) {
    const at = `${where} task "${task.name}"`;
    if (task.dependencies !== undefined && task.depends !== undefined)
      problems.push(`${at}: uses both dependencies and depends`);
    const upstream = [...(task.dependencies ?? []), ...dependsNames(task.depends ?? "")];
    for (const up of upstream)
      if (!names.has(up)) problems.push(`${at}: depends on unknown task "${up}"`);
    deps.set(
      task.name,
      upstream.filter((up) => names.has(up)),
    );
    problems.push(...callProblems(at, task, byName));
  }
  const cycle = findCycle(deps);
  if (cycle !== undefined) problems.push(`${where}: dependency cycle ${cycle}`);
  for (const task of tasks)
    problems.push(...taskReferenceProblems(where, task, names, deps, byName));
  return problems;
}

/** `{{tasks.X.outputs...}}` must name an upstream task X whose template declares that output. */
function taskReferenceProblems(
  where: string,
  task: DagTask,
  names: Map<string, DagTask>,
  deps: Map<string, string[]>,
  byName: Map<string, Template>,
): string[] {
  const upstream = new Set<string>();
  const stack = [...(deps.get(task.name) ?? [])];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (upstream.has(next)) continue;
    upstream.add(next);
    stack.push(...(deps.get(next) ?? []));
  }
  const problems: string[] = [];
  for (const expression of expressionsIn([task.arguments, task.when, task.withParam])) {
    const m = /^tasks\.([\w-]+)\.outputs\.(parameters\.([\w-]+)|result)/.exec(expression);
    if (m === null) continue;
    const source = m[1]!;
    const at = `${where} task "${task.name}": {{${expression}}}`;
    if (!names.has(source)) problems.push(`${at} names unknown task "${source}"`);
    else if (!upstream.has(source)) problems.push(`${at} but "${source}" is not upstream`);
    const sourceTemplate = byName.get(names.get(source)?.template ?? "");
    const output = m[3];
    if (output !== undefined && sourceTemplate !== undefined)
      if (!(sourceTemplate.outputs?.parameters ?? []).some((p) => p.name === output))
        problems.push(
          `${at} but template "${sourceTemplate.name}" has no output parameter "${output}"`,
        );
  }
  return problems;
}

/** Checks a schema cannot express, for a document that already matches the schema. */
function semanticProblems(kind: string, spec: WorkflowSpec): string[] {
  const templates = spec.templates ?? [];
  const problems: string[] = [];
  const byName = new Map<string, Template>();
  for (const t of templates) {
    if (byName.has(t.name)) problems.push(`template "${t.name}" defined twice`);
    byName.set(t.name, t);
    const types = TEMPLATE_TYPES.filter(
      (type) => (t as unknown as Record<string, unknown>)[type] !== undefined,
    );
    if (types.length !== 1)
      problems.push(`template "${t.name}" must have exactly one type, found [${types.join(", ")}]`);
  }
  if (
    kind === "Workflow" &&
    spec.workflowTemplateRef === undefined &&
    spec.entrypoint === undefined
  )
    problems.push("spec.entrypoint is required");
  for (const key of ["entrypoint", "onExit"] as const) {
    const name = spec[key];
    if (name !== undefined && spec.workflowTemplateRef === undefined && !byName.has(name))
      problems.push(`spec.${key} "${name}" is not a template`);
  }
  const workflowParameters = new Set((spec.arguments?.parameters ?? []).map((p) => p.name));
  for (const t of templates) {
    const inputs = new Set((t.inputs?.parameters ?? []).map((p) => p.name));
    for (const expression of expressionsIn(t)) {
      const input = /^inputs\.parameters\.([\w-]+)$/.exec(expression)?.[1];
      if (input !== undefined && !inputs.has(input))
        problems.push(`template "${t.name}": {{${expression}}} but no input parameter "${input}"`);
      const parameter = /^workflow\.parameters\.([\w-]+)$/.exec(expression)?.[1];
      if (parameter !== undefined && kind === "Workflow" && !workflowParameters.has(parameter))
        problems.push(
          `template "${t.name}": {{${expression}}} but spec.arguments has no "${parameter}"`,
        );
    }
    (t.steps ?? []).forEach((group, i) => {
      for (const step of group ?? [])
        problems.push(
          ...callProblems(`template "${t.name}" step[${i}] "${step.name}"`, step, byName),
        );
    });
    if (t.dag !== undefined) problems.push(...dagProblems(t, byName));
  }
  return [...new Set(problems)];
}

/** Every problem of one parsed document: schema first; semantics only on a well-formed one. */
function documentProblems(doc: unknown): string[] {
  if (doc === null || typeof doc !== "object") return ["not a mapping"];
  const { apiVersion, kind, spec } = doc as {
    apiVersion?: unknown;
    kind?: unknown;
    spec?: unknown;
  };
  if (apiVersion !== "argoproj.io/v1alpha1")
    return [`apiVersion must be argoproj.io/v1alpha1, got ${JSON.stringify(apiVersion)}`];
  const validate = validatorFor(String(kind));
  if (validate === undefined)
    return [
      `unsupported kind ${JSON.stringify(kind)} (expected ${Object.keys(KIND_DEFINITIONS).join(", ")})`,
    ];
  if (!validate(doc)) return (validate.errors ?? []).map((e) => `schema: ${schemaMessage(e)}`);
  const workflowSpec = (
    kind === "CronWorkflow" ? (spec as { workflowSpec?: unknown })?.workflowSpec : spec
  ) as WorkflowSpec | undefined;
  if (workflowSpec === undefined) return ["spec is missing"];
  return semanticProblems(String(kind), workflowSpec);
}

/**
 * Validates Argo manifests (file name → YAML text, multi-document allowed) the way `argo lint`
 * would without a cluster. Returns one line per problem, `NAME[#i]: problem`; empty when every
 * document is valid.
 */
export function validateArgo(manifests: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [name, text] of Object.entries(manifests)) {
    const docs = parseAllDocuments(text);
    docs.forEach((doc, i) => {
      const label = docs.length > 1 ? `${name}#${i}` : name;
      if (doc.errors.length > 0) {
        problems.push(...doc.errors.map((e) => `${label}: yaml: ${e.message}`));
        return;
      }
      const value: unknown = doc.toJS();
      if (value === null) return;
      problems.push(...documentProblems(value).map((p) => `${label}: ${p}`));
    });
  }
  return problems;
}
