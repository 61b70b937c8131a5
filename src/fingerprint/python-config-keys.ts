import {
  bracketed,
  lastLogicalLine,
  splitTopLevel,
  stripStringsAndComments,
} from "../spec/python-source.js";
import { escapeRegExp } from "./escape-regexp.js";

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
  const code = stripStringsAndComments(source);
  const name = escapeRegExp(fn);
  const defs = [
    ...code.matchAll(new RegExp(`^(?:async[ \\t]+)?def[ \\t]+${name}[ \\t]*\\(`, "gmu")),
  ];
  if (defs.length !== 1) return "all";
  if (new RegExp(`^${name}[ \\t]*(?::[^=\\n]*)?=(?!=)`, "mu").test(code)) return "all";
  const def = defs[0]!;
  if (lastLogicalLine(code.slice(0, def.index)).startsWith("@")) return "all";
  const params = bracketed(code, def.index + def[0].length - 1);
  if (params === undefined) return "all";
  const keys: string[] = [];
  for (const p of splitTopLevel(params)) {
    if (p === "/" || p === "*") continue;
    if (p.startsWith("*")) return "all";
    const m = NAME.exec(p);
    if (m === null) return "all";
    if (m[0] === "runtime_config") return "all";
    keys.push(m[0]);
  }
  return keys;
}
