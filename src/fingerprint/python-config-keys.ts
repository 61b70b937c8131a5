import {
  bracketed,
  splitTopLevel,
  stripStringsAndComments,
  topLevelDef,
} from "../spec/python-source.js";

export { bracketed, splitTopLevel };

/** The config keys a task function receives: named keys, or `"all"` (the whole config). */
export type ConfigKeys = readonly string[] | "all";

const NAME = /^[\p{L}_][\p{L}\p{N}_]*/u;

/**
 * The config keys Python function `fn` of `source` can receive, as dagwright_task.py binds them:
 * each parameter name (a config key of that name fills it), or `"all"` when it takes
 * `runtime_config`, `*args` or `**kwargs`. Also `"all"` whenever the signature cannot be read for
 * sure: no top-level `def fn(` (the file then runs as a script, or the name comes from an import
 * or an assignment), more than one, a decorator (it may change the signature), or a rebinding
 * `fn = …` at module level.
 */
export function pythonConfigKeys(source: string, fn: string): ConfigKeys {
  const def = topLevelDef(stripStringsAndComments(source), fn);
  if (typeof def === "string") return "all";
  const keys: string[] = [];
  for (const p of splitTopLevel(def.params)) {
    if (p === "/" || p === "*") continue;
    if (p.startsWith("*")) return "all";
    const m = NAME.exec(p);
    if (m === null) return "all";
    if (m[0] === "runtime_config") return "all";
    keys.push(m[0]);
  }
  return keys;
}
