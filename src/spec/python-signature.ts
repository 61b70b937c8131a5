import { splitTopLevel, stripStringsAndComments, topLevelDef } from "./python-source.js";

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
  const def = topLevelDef(code, fn);
  if (typeof def === "string") return def;
  const params = parameters(def.params);
  if (params === undefined) return "unknown";
  const line = code.slice(0, def.index).split("\n").length;
  return { line, params };
}
