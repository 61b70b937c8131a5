import {
  bracketed,
  lastLogicalLine,
  splitTopLevel,
  stripStringsAndComments,
} from "./python-source.js";

/** How Python binds one parameter (the names of `inspect.Parameter.kind`). */
export type PythonParameterKind =
  | "positional-only"
  | "positional-or-keyword"
  | "keyword-only"
  | "var-positional"
  | "var-keyword";

/** One parameter of a function, as written. */
export interface PythonParameter {
  name: string;
  kind: PythonParameterKind;
  hasDefault: boolean;
}

/** A top-level function's signature, read from its source without running Python. */
export interface PythonSignature {
  /** 1-based line of its `def`. */
  line: number;
  params: PythonParameter[];
}

/**
 * Why a signature was not read: the function is `decorated` (a decorator may change what it
 * accepts), or `unknown` (no single top-level `def`: bound by an import or an assignment,
 * defined twice, or unbalanced brackets).
 */
export type SignatureSkip = "decorated" | "unknown";

const NAME = /^[\p{L}_][\p{L}\p{N}_]*/u;
const DEFAULT = /(?<![=<>!])=(?!=)/u;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/gu, "\\$&");
}

function parameters(text: string): PythonParameter[] | undefined {
  const out: PythonParameter[] = [];
  let kind: PythonParameterKind = "positional-or-keyword";
  for (const p of splitTopLevel(text)) {
    if (p === "/") {
      for (const q of out) q.kind = "positional-only";
      continue;
    }
    if (p === "*") {
      kind = "keyword-only";
      continue;
    }
    const stars = /^\*{1,2}/u.exec(p)?.[0] ?? "";
    const name = NAME.exec(p.slice(stars.length).trim())?.[0];
    if (name === undefined) return undefined;
    if (stars === "**") out.push({ name, kind: "var-keyword", hasDefault: false });
    else if (stars === "*") {
      out.push({ name, kind: "var-positional", hasDefault: false });
      kind = "keyword-only";
    } else out.push({ name, kind, hasDefault: DEFAULT.test(p) });
  }
  return out;
}

/**
 * The signature of the top-level function `fn` in Python `source`, or why it is not read (see
 * {@link SignatureSkip}). `async def` counts like `def`. Comments and strings are skipped, so a
 * `def` in a docstring is not one. Never throws.
 */
export function pythonSignature(source: string, fn: string): PythonSignature | SignatureSkip {
  const code = stripStringsAndComments(source);
  const name = escapeRegExp(fn);
  const defs = [
    ...code.matchAll(new RegExp(`^(?:async[ \\t]+)?def[ \\t]+${name}[ \\t]*\\(`, "gmu")),
  ];
  if (defs.length !== 1) return "unknown";
  // Another top-level binding of the name (`fn = wrap(fn)`) replaces the def.
  if (new RegExp(`^${name}[ \\t]*(?::[^=\\n]*)?=(?!=)`, "mu").test(code)) return "unknown";
  const def = defs[0]!;
  if (lastLogicalLine(code.slice(0, def.index)).startsWith("@")) return "decorated";
  const text = bracketed(code, def.index + def[0].length - 1);
  const params = text === undefined ? undefined : parameters(text);
  if (params === undefined) return "unknown";
  const line = code.slice(0, def.index).split("\n").length;
  return { line, params };
}
