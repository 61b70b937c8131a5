import { type Diagnostic, formatPath, type SourceLocation } from "./diagnostic.js";
import { closest } from "./did-you-mean.js";
import type { Spec, TaskSpec } from "./types.js";

const VAR = /\$\{([^}]*)\}/g;

/** Where a `${VAR}` was written, and what fills it there at run time. */
interface Site {
  /** Spec field path, e.g. `["tasks", "fetch", "outputs", 0]`. */
  at: (string | number)[];
  text: string;
  /** `patterns`: only item values are filled; `env`: item values, then the task's environment. */
  fills: "patterns" | "env";
}

function sitesOf(task: TaskSpec): Site[] {
  const at = (...rest: (string | number)[]) => ["tasks", task.name, ...rest];
  const sites: Site[] = [
    ...task.outputs.map((text, i) => ({ at: at("outputs", i), text, fills: "patterns" as const })),
    ...task.inputs.map((text, i) => ({ at: at("inputs", i), text, fills: "patterns" as const })),
  ];
  if (task.logs !== undefined) sites.push({ at: at("logs"), text: task.logs, fills: "patterns" });
  if (task.cliArgs !== undefined)
    sites.push({ at: at("cli_args"), text: task.cliArgs, fills: "env" });
  if (task.kind === "r" && task.file !== undefined)
    sites.push({ at: at("file"), text: task.file, fills: "env" });
  return sites;
}

/** Every key path of the config layers (`db`, `db.host`), for telling a config key apart. */
function configKeys(spec: Spec): Set<string> {
  const keys = new Set<string>();
  const walk = (value: unknown, prefix: string) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return;
    for (const [k, v] of Object.entries(value)) {
      keys.add(prefix + k);
      walk(v, `${prefix}${k}.`);
    }
  };
  walk(spec.config, "");
  for (const g of Object.values(spec.graphs)) walk(g.config, "");
  for (const e of Object.values(spec.environments)) walk(e.config, "");
  return keys;
}

function list(names: readonly string[]): string {
  return names.map((n) => `\${${n}}`).join(", ");
}

/**
 * The problem with `${name}` at `site`, or undefined when it is filled at run time. A name close
 * to one that would be filled is a typo in either format. Otherwise a dagwright spec must not name
 * a variable that outputs, inputs and logs never fill (it would silently match any text), while a
 * kptn spec keeps kptn's meaning (globbed as `*`).
 */
function problemWith(
  name: string,
  site: Site,
  task: TaskSpec,
  ctx: { kptn: boolean; config: ReadonlySet<string> },
): Omit<Diagnostic, "path" | "location"> | undefined {
  const items = task.mapOver ?? [];
  const env = [...Object.keys(task.env), ...task.secrets.map((s) => s.env)];
  const filled = site.fills === "patterns" ? items : [...items, ...env];
  if (filled.includes(name)) return undefined;
  const near = closest(name, filled);
  const itemsNote =
    items.length === 0
      ? `task "${task.name}" has no item variables (no map_over)`
      : `its item variables are ${list(items)}`;
  if (near !== undefined)
    return {
      severity: "error",
      kind: "unknown-variable",
      message: `\${${name}} is not a variable of task "${task.name}". Did you mean "\${${near}}"?`,
      hint: `${itemsNote}${site.fills === "env" && env.length > 0 ? `; its declared env: ${list(env)}` : ""}`,
    };
  // kptn globs such names as `*`; cli_args and R paths read any other name from the environment.
  if (ctx.kptn || site.fills === "env") return undefined;
  const what = ctx.config.has(name)
    ? "is a config key, and config values are not filled into paths"
    : env.includes(name)
      ? "is declared env, and env values are not filled into paths"
      : "is not an item variable";
  return {
    severity: "error",
    kind: "unknown-variable",
    message: `\${${name}} ${what}: outputs, inputs and logs fill only item variables, so it would match any text`,
    hint: `${itemsNote}; write * where any text should match, or the value itself`,
  };
}

/**
 * Checks every `${VAR}` in the tasks' outputs, inputs, logs, cli_args and R file paths against
 * what fills it at run time (item variables; for cli_args and R paths also the task's env), with
 * "did you mean" for a near miss (other names in cli_args and R paths come from the process
 * environment, so only near misses are reported there). `locate` maps a spec field path to where it is written.
 */
export function checkPatternVars(
  spec: Spec,
  locate: (at: (string | number)[]) => SourceLocation | undefined,
): Diagnostic[] {
  const ctx = { kptn: spec.format === "kptn", config: configKeys(spec) };
  const out: Diagnostic[] = [];
  for (const task of Object.values(spec.tasks)) {
    for (const site of sitesOf(task)) {
      const seen = new Set<string>();
      for (const m of site.text.matchAll(VAR)) {
        const name = m[1]!;
        if (seen.has(name)) continue;
        seen.add(name);
        const problem = problemWith(name, site, task, ctx);
        if (problem === undefined) continue;
        const location = locate(site.at);
        out.push({ ...problem, path: formatPath(site.at), ...(location ? { location } : {}) });
      }
    }
  }
  return out;
}
