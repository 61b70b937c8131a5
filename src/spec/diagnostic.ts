/** Where a problem is: a position in a spec file. Lines and columns are 1-based. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/**
 * One problem found while loading or validating a spec. Plain data, so `validate --json` can print it
 * as is. `message` says what is wrong (expected vs received); `hint` says how to fix it.
 */
export interface Diagnostic {
  severity: "error" | "warning";
  /** Stable machine-readable kind, e.g. `unknown-field`, `cycle`, `unknown-dependency`. */
  kind: string;
  message: string;
  /** Dotted field path, e.g. `graphs.main.tasks.load`. Empty for whole-file problems. */
  path: string;
  location?: SourceLocation;
  hint?: string;
}

/** `file:line:col path: message. hint` (the STYLE.md three-part message). */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.location ? `${d.location.file}:${d.location.line}:${d.location.column}` : "";
  const prefix = [where, d.path].filter((s) => s !== "").join(" ");
  const head = prefix === "" ? d.message : `${prefix}: ${d.message}`;
  return d.hint ? `${head}\n  hint: ${d.hint}` : head;
}

/** Formats a field path for messages: `["graphs","main","tasks",0]` → `graphs.main.tasks[0]`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}
