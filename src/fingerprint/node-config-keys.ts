import { escapeRegExp } from "./escape-regexp.js";
import { bracketed, type ConfigKeys, splitTopLevel } from "./python-config-keys.js";

/**
 * Blanks comments and the contents of string and template literals (quotes kept, line breaks
 * kept) so brackets and commas in them cannot mislead the parameter reader.
 */
function blankLiterals(src: string): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end === -1 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      out += c;
      i++;
      while (i < src.length && src[i] !== c && (c === "`" || src[i] !== "\n")) {
        if (src[i] === "\\") {
          out += " ";
          i++;
        }
        out += src[i] === "\n" ? "\n" : " ";
        i++;
      }
      if (i < src.length) out += src[i];
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const IDENT = /^[\p{L}_$][\p{L}\p{N}_$]*/u;

/** `name` or `name: pattern` (either with `= default`); undefined for `...rest`, computed or quoted keys. */
function propertyOf(prop: string): { key: string; pattern?: string } | undefined {
  const m = IDENT.exec(prop);
  if (m === null) return undefined;
  const rest = prop.slice(m[0].length).trimStart();
  if (rest === "" || rest.startsWith("=")) return { key: m[0] };
  if (!rest.startsWith(":")) return undefined;
  return { key: m[0], pattern: rest.slice(1).trim() };
}

/** Keys a `config` pattern picks: `{ a, b: x, c = 1 }` → a, b, c; anything else → all. */
function keysOfConfigPattern(pattern: string | undefined): ConfigKeys {
  if (pattern === undefined || !pattern.startsWith("{")) return "all";
  const inner = bracketed(pattern, 0);
  if (inner === undefined) return "all";
  const keys: string[] = [];
  for (const prop of splitTopLevel(inner)) {
    const p = propertyOf(prop);
    if (p === undefined) return "all";
    keys.push(p.key);
  }
  return keys;
}

/** What the first parameter (the one input object) takes from `config`. */
function keysOfFirstParam(param: string | undefined): ConfigKeys {
  if (param === undefined) return [];
  if (!param.startsWith("{")) return "all";
  const inner = bracketed(param, 0);
  if (inner === undefined) return "all";
  let keys: ConfigKeys = [];
  for (const prop of splitTopLevel(inner)) {
    const p = propertyOf(prop);
    if (p === undefined) return "all";
    if (p.key === "config") keys = keysOfConfigPattern(p.pattern);
  }
  return keys;
}

/**
 * The config keys TS/JS function `fn` of `source` reads from the object it is called with
 * (`{ ...deps, args, config, item, pipelineConfig, deps }`): the keys of `config: { a, b }` in a
 * destructured first parameter; none when it destructures no `config` (or takes no parameter);
 * `"all"` when it keeps the object or `config` whole (`input`, `{ config }`, `{ ...rest }`).
 * Also `"all"` whenever the declaration cannot be read for sure: not exactly one `function fn`
 * / `const fn =` declaration, an `… as fn` export alias, or a value that is not a function
 * literal (`const fn = wrap(…)`), or a use of `arguments` in the file.
 */
export function nodeConfigKeys(source: string, fn: string): ConfigKeys {
  const code = blankLiterals(source);
  const name = escapeRegExp(fn);
  const decls = [
    ...code.matchAll(
      new RegExp(
        `(?:\\bfunction\\s*\\*?\\s*|\\b(?:const|let|var|class)\\s+)${name}(?![\\p{L}\\p{N}_$])`,
        "gu",
      ),
    ),
  ];
  if (decls.length !== 1) return "all";
  // `arguments[0].config` reads config past any destructuring.
  if (/\barguments\b/u.test(code)) return "all";
  if (new RegExp(`\\bas\\s+${name}(?![\\p{L}\\p{N}_$])`, "u").test(code)) return "all";
  const after = code.slice(decls[0]!.index + decls[0]![0].length);
  const fnLiteral =
    /^\s*(?:<[^()]*?>)?\s*\(/u.exec(after) ??
    /^\s*(?::[^=]+)?=\s*(?:async\s*)?(?:function\b\s*\*?\s*[\p{L}\p{N}_$]*\s*)?(?:<[^()]*?>)?\s*\(/u.exec(
      after,
    );
  if (fnLiteral === null) return "all";
  const params = bracketed(after, fnLiteral[0].length - 1);
  if (params === undefined) return "all";
  return keysOfFirstParam(splitTopLevel(params)[0]);
}
