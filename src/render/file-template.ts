import { Environment } from "nunjucks";
import { DagwrightError } from "../spec/errors.js";
import type { DeploymentPlan, PlanUnit } from "./deployment-plan.js";
import { pyLiteral } from "./python-literal.js";

/** Placeholder for an item key while a unit's item command is split (never in user names). */
const ITEM = "\u0000dagwright-item\u0000";

/** A unit as a `--template` sees it: plain data, nothing escaped for any engine. */
export interface TemplateUnit {
  /** The unit's name (a task's, or a group's) as written. */
  name: string;
  kind: "task" | "group";
  /** The target's identifier of the unit (an Airflow task id, a Prefect task name). */
  id: string;
  /** The variable the default file binds the unit to (`unit_0`). */
  variable: string;
  /** The member tasks, in topological order. */
  tasks: string[];
  /** The units it waits for, by name. */
  deps: string[];
  /** Arguments after `dagwright` that run it (for a fan-out: see `fan_out`). */
  command: string[];
  env: Record<string, string>;
  secrets: { env: string; name: string; key: string }[];
  retries: number;
  timeout_seconds: number | null;
  compute: { cpu: number | null; memory_mib: number | null; gpu: number | null };
  machine_type: string | null;
  tags: string[];
  /**
   * A fan-out: `list` prints the keys (JSON); an item runs `item_args` with the argument at
   * `key_index` replaced by `key_prefix + key + key_suffix`.
   */
  fan_out: {
    list: string[];
    item_args: string[];
    key_index: number;
    key_prefix: string;
    key_suffix: string;
    group_size: number | null;
    bundle_size: number | null;
  } | null;
  /** The target's own source for this unit in the default file. */
  code: string;
}

/** The target-neutral part of every `--template` context, per unit. */
export function templateUnits(
  plan: DeploymentPlan,
  idOf: (unit: PlanUnit) => string,
  codeOf: (unit: PlanUnit, index: number) => string,
): TemplateUnit[] {
  return plan.units.map((unit, i) => ({
    name: unit.name,
    kind: unit.kind,
    id: idOf(unit),
    variable: `unit_${i}`,
    tasks: unit.members.map((t) => t.name),
    deps: [...unit.deps],
    command: [...unit.command],
    env: Object.fromEntries(unit.env),
    secrets: unit.secrets.map((s) => ({ env: s.env, name: s.name, key: s.key })),
    retries: unit.retries,
    timeout_seconds: unit.timeoutSeconds ?? null,
    compute: {
      cpu: unit.compute.cpu ?? null,
      memory_mib: unit.compute.memoryMiB ?? null,
      gpu: unit.compute.gpu ?? null,
    },
    machine_type: unit.machineType ?? null,
    tags: [...new Set(unit.members.flatMap((t) => t.spec.tags))],
    fan_out: unit.fanOut === undefined ? null : fanOutView(unit),
    code: codeOf(unit, i),
  }));
}

function fanOutView(unit: PlanUnit): NonNullable<TemplateUnit["fan_out"]> {
  const f = unit.fanOut!;
  const args = f.item(ITEM);
  const at = args.findIndex((a) => a.includes(ITEM));
  const [prefix, suffix] = args[at]!.split(ITEM) as [string, string];
  return {
    list: [...f.list],
    item_args: args.map((a, i) => (i === at ? "" : a)),
    key_index: at,
    key_prefix: prefix,
    key_suffix: suffix,
    group_size: f.groupSize ?? null,
    bundle_size: f.bundleSize ?? null,
  };
}

/** Quoting helpers every Python-file template gets. */
export const PYTHON_TEMPLATE_HELPERS = {
  /** A Python literal of plain data (strings escaped; see python-literal.ts). */
  py: (value: unknown) => pyLiteral(value),
  /** JSON text of a value. */
  json: (value: unknown) => JSON.stringify(value),
};

/**
 * Renders a whole-file override template (Nunjucks, Jinja-compatible) with `context`; `target`
 * names it in errors (`the Airflow template override failed: …`). Undefined names are errors, and
 * nothing is auto-escaped: templates quote values with the helpers in the context.
 *
 * @throws DagwrightError (`E_USAGE`) when the template does not render.
 */
export function renderFileTemplate(
  template: string,
  context: object,
  target: string,
  hint: string,
): string {
  const env = new Environment(null, { autoescape: false, throwOnUndefined: true });
  try {
    return env.renderString(template, context);
  } catch (err) {
    throw new DagwrightError(
      "E_USAGE",
      `the ${target} template override failed: ${(err instanceof Error ? err.message : String(err)).replace(/^\(unknown path\)\s*/, "")}`,
      { cause: err, hint },
    );
  }
}
