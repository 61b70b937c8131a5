import { escapeRegExp } from "./escape-regexp.js";
import { stripStringsAndComments } from "./python-imports.js";

/** The config keys a task function receives: named keys, or `"all"` (the whole config). */
export type ConfigKeys = readonly string[] | "all";

const NAME = /^[\p{L}_][\p{L}\p{N}_]*/u;

/** The text between the bracket at `open` and its match, or undefined when unbalanced. */
export function bracketed(code: string, open: number): string | undefined {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    const c = code[i]!;
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      depth--;
      if (depth === 0) return code.slice(open + 1, i);
    }
  }
  return undefined;
}

/** Splits on commas outside brackets; blank pieces (a trailing comma) are dropped. */
export function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((p) => p.trim()).filter((p) => p !== "");
}

/** The last non-blank logical line (brackets may span physical lines) of `code`, trimmed. */
function lastLogicalLine(code: string): string {
  let depth = 0;
  let start = 0;
  let last = "";
  for (let i = 0; i <= code.length; i++) {
    const c = code[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if ((c === ")" || c === "]" || c === "}") && depth > 0) depth--;
    else if ((c === "\n" && depth === 0) || c === undefined) {
      const line = code.slice(start, i).trim();
      if (line !== "") last = line;
      start = i + 1;
    }
  }
  return last;
}

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
