import path from "node:path";
import { parse as parseYamlText } from "yaml";
import { deepMerge } from "./resolve-config.js";
import type { SpecFiles } from "./spec-files.js";

type Path = (string | number)[];

/** Reports one problem at a spec path (the `err` of normalizeSpec). */
export type ConfigReport = (kind: string, at: Path, message: string, hint?: string) => void;

/** What expanding a kptn config block reads. */
export interface KptnConfigContext {
  root: string;
  /** Include files are read through it, so the spec cache knows them. */
  files: SpecFiles;
  report: ConfigReport;
}

const ALIAS = /^[A-Za-z_]\w*$/u;

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** kptn's config entry: a mapping with `value` or `function` (and `alias`/`parameter_name`). */
function isEntry(m: Record<string, unknown>): boolean {
  return "value" in m || "function" in m;
}

interface Walk {
  ctx: KptnConfigContext;
  /** Aliases every entry defines, set at the top level of the config at the end. */
  rootAliases: [string, unknown][];
  /** Include files being expanded (a file including itself is a cycle). */
  including: string[];
}

/**
 * A kptn.yaml config block with kptn's config features applied statically: `include: file` (or a
 * list) in any mapping merges the JSON/YAML file's mapping under the mapping's own keys; an entry
 * `{value: V, alias: A}` becomes V, also set at A; an entry `{function: "mod:fn",
 * parameter_name: A}` (kptn's `duckdb:` form) becomes the string `"mod:fn"`, also set at A, which
 * the Python runner calls when a task asks for it. Problems are reported at the config path.
 */
export function expandKptnConfig(
  config: Record<string, unknown>,
  at: Path,
  ctx: KptnConfigContext,
): Record<string, unknown> {
  const walk: Walk = { ctx, rootAliases: [], including: [] };
  const out = expandMapping(config, at, walk);
  for (const [k, v] of walk.rootAliases) out[k] = v;
  return out;
}

function expandValue(value: unknown, at: Path, walk: Walk): unknown {
  if (Array.isArray(value)) return value.map((v, i) => expandValue(v, [...at, i], walk));
  if (!isMapping(value)) return value;
  if (isEntry(value)) {
    const { resolved, alias } = expandEntry(value, at, walk);
    if (alias !== undefined) walk.rootAliases.push([alias, resolved]);
    return resolved;
  }
  return expandMapping(value, at, walk);
}

function expandMapping(m: Record<string, unknown>, at: Path, walk: Walk): Record<string, unknown> {
  let merged: Record<string, unknown> = {};
  if (m.include !== undefined) {
    for (const [i, file] of includesOf(m.include, [...at, "include"], walk).entries()) {
      const included = readInclude(
        file,
        [...at, "include", ...(Array.isArray(m.include) ? [i] : [])],
        walk,
      );
      if (included !== undefined) merged = deepMerge(merged, included);
    }
  }
  const current: Record<string, unknown> = {};
  const local: [string, unknown][] = [];
  for (const [k, v] of Object.entries(m)) {
    if (k === "include") continue;
    if (isMapping(v) && isEntry(v)) {
      const { resolved, alias } = expandEntry(v, [...at, k], walk);
      current[k] = resolved;
      if (alias !== undefined) {
        local.push([alias, resolved]);
        walk.rootAliases.push([alias, resolved]);
      }
    } else current[k] = expandValue(v, [...at, k], walk);
  }
  const out = deepMerge(merged, current);
  for (const [k, v] of local) out[k] = v;
  return out;
}

function includesOf(value: unknown, at: Path, walk: Walk): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.every((v): v is string => typeof v === "string" && v !== "")) return list;
  walk.ctx.report(
    "invalid-include",
    at,
    "include must be a file path or a list of file paths",
    "e.g. include: config.json, or include: [base.yaml, local.yaml] (paths relative to the spec's directory)",
  );
  return [];
}

function readInclude(file: string, at: Path, walk: Walk): Record<string, unknown> | undefined {
  const { ctx } = walk;
  const abs = path.resolve(ctx.root, file);
  if (walk.including.includes(abs)) {
    ctx.report(
      "include-cycle",
      at,
      `${file} includes itself (through ${walk.including.map((f) => path.relative(ctx.root, f)).join(" → ")})`,
      "remove one of the includes",
    );
    return undefined;
  }
  let text: string;
  try {
    text = ctx.files.readText(abs);
  } catch {
    ctx.report(
      "include-not-found",
      at,
      `config include ${JSON.stringify(file)} not found (looked for ${abs})`,
      "include paths are relative to the spec's directory; create the file or fix the path",
    );
    return undefined;
  }
  const ext = path.extname(abs).toLowerCase();
  let data: unknown;
  try {
    if (ext === ".json") data = JSON.parse(text);
    else if (ext === ".yaml" || ext === ".yml") data = parseYamlText(text);
    else {
      ctx.report(
        "invalid-include",
        at,
        `config include ${JSON.stringify(file)} is not a .json, .yaml or .yml file`,
        "include JSON or YAML files holding a mapping",
      );
      return undefined;
    }
  } catch (cause) {
    ctx.report(
      "invalid-include",
      at,
      `config include ${JSON.stringify(file)} does not parse: ${(cause as Error).message.split("\n")[0]}`,
      `fix ${file}`,
    );
    return undefined;
  }
  if (!isMapping(data)) {
    ctx.report(
      "invalid-include",
      at,
      `config include ${JSON.stringify(file)} holds ${Array.isArray(data) ? "a list" : typeof data}, not a mapping`,
      "an included file must hold a mapping of config keys",
    );
    return undefined;
  }
  walk.including.push(abs);
  try {
    return expandMapping(data, at, walk);
  } finally {
    walk.including.pop();
  }
}

function expandEntry(
  m: Record<string, unknown>,
  at: Path,
  walk: Walk,
): { resolved: unknown; alias?: string } {
  const { report } = walk.ctx;
  const extra = Object.keys(m).filter(
    (k) => !["value", "function", "alias", "parameter_name"].includes(k),
  );
  if (extra.length > 0)
    report(
      "invalid-config-entry",
      at,
      `a config entry with value/function cannot also have ${extra.join(", ")}`,
      "keep value or function, with alias or parameter_name; put other keys in a mapping of their own",
    );
  if ("value" in m && "function" in m)
    report(
      "invalid-config-entry",
      at,
      "a config entry has both value and function",
      "keep one of them",
    );
  let resolved: unknown;
  if ("function" in m) {
    resolved = m.function;
    if (typeof resolved !== "string" || !/^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$/u.test(resolved.trim()))
      report(
        "invalid-config-entry",
        [...at, "function"],
        `function must be "module.path:function", got ${JSON.stringify(resolved)}`,
        "e.g. function: src.utils:get_engine (a module importable from the project root)",
      );
  } else resolved = expandValue(m.value, [...at, "value"], walk);
  const alias = aliasOf(m, at, walk);
  return alias === undefined ? { resolved } : { resolved, alias };
}

function aliasOf(m: Record<string, unknown>, at: Path, walk: Walk): string | undefined {
  const names = (["alias", "parameter_name"] as const).filter((k) => m[k] !== undefined);
  const values = names.map((k) => m[k]);
  if (values.length === 0) return undefined;
  if (values.length === 2 && values[0] !== values[1]) {
    walk.ctx.report(
      "invalid-config-entry",
      at,
      `alias ${JSON.stringify(values[0])} and parameter_name ${JSON.stringify(values[1])} differ`,
      "give one of them",
    );
    return undefined;
  }
  const alias = values[0];
  if (typeof alias !== "string" || !ALIAS.test(alias.trim())) {
    walk.ctx.report(
      "invalid-config-entry",
      [...at, names[0]!],
      `${names[0]} must be a Python identifier, got ${JSON.stringify(alias)}`,
      "the alias is the parameter name tasks receive the value under, e.g. engine",
    );
    return undefined;
  }
  return alias.trim();
}
