import { splitTop } from "../spec/python-source.js";
import { runsOnImport } from "./python-import-effects.js";

/**
 * What one top-level statement of a Python module is, for function-level fingerprints:
 * - `def`/`class`: a definition (with its decorators and body);
 * - `import`: an import statement (`star` when it is `from m import *`);
 * - `assign`: a simple assignment or annotation whose targets are plain names (`A = …`,
 *   `A, B = …`, `A: int = …`);
 * - `ignored`: a string expression (a docstring) or an `if __name__ == "__main__":` block, neither
 *   of which runs anything on import;
 * - `code`: anything else, code that runs when the module is imported.
 */
export type TopStatementKind = "def" | "class" | "import" | "star" | "assign" | "ignored" | "code";

/** One top-level statement, as {@link scanTopLevel} splits a module. */
export interface TopStatement {
  kind: TopStatementKind;
  /** Names it binds at the module's top level. */
  names: string[];
  /** 1-based line where it starts (its first decorator for a decorated definition). */
  line: number;
  /** Its source text, decorators, body and comments included. */
  text: string;
  /**
   * Its code with comments removed and string literals blanked, except f-strings, whose
   * expressions may name module-level names: what references are read from.
   */
  code: string;
  /**
   * Evaluating it on import may run code with effects other functions could see (a registering
   * decorator, a class whose creation or class-level body calls something, a default value or an
   * assigned value that calls something): see {@link runsOnImport}.
   */
  runsOnImport: boolean;
}

/** One logical line: brackets, backslash continuations and strings joined. */
interface LogicalLine {
  indent: number;
  start: number;
  end: number;
  line: number;
  code: string;
}

const PREFIX = /(?:^|[^\p{L}\p{N}_])([rRbBuUfFtT]{1,2})$/u;

/** A run of characters none of which starts a comment, string, bracket or line end. */
const PLAIN = /[^#'"\\\n\r()[\]{}]+/uy;

/** Index after the string literal whose opening quote is at `i`. */
function stringEnd(src: string, i: number): number {
  const q = src[i]!;
  const close = src.startsWith(q.repeat(3), i) ? q.repeat(3) : q;
  let j = i + close.length;
  while (j < src.length) {
    if (src[j] === "\\") j += 2;
    else if (src.startsWith(close, j)) return j + close.length;
    else if (src[j] === "\n" && close.length === 1) return j;
    else j++;
  }
  return src.length;
}

/** Logical lines (brackets, backslashes and strings joined) with their source spans. */
function logicalLines(src: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  let cur: LogicalLine | undefined;
  let depth = 0;
  let lineNo = 1;
  let i = 0;
  const finish = (end: number) => {
    if (cur !== undefined && cur.code.trim() !== "")
      out.push({ ...cur, end, code: cur.code.trim() });
    cur = undefined;
    depth = 0;
  };
  while (i < src.length) {
    if (cur === undefined) {
      let width = 0;
      const start = i;
      while (src[i] === " " || src[i] === "\t" || src[i] === "\f") {
        width = src[i] === "\t" ? width + 8 - (width % 8) : width + 1;
        i++;
      }
      cur = { indent: width, start, end: start, line: lineNo, code: "" };
      continue;
    }
    const ch = src[i]!;
    if (ch === "#") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (ch === "'" || ch === '"') {
      const prefix = PREFIX.exec(cur.code)?.[1] ?? "";
      const end = stringEnd(src, i);
      const body = src.slice(i, end);
      cur.code = cur.code.slice(0, cur.code.length - prefix.length);
      // An f-string's (or t-string's) `{…}` parts are code, nested to any depth (a format spec's
      // `{WIDTH}`, a 3.12 same-quote `{T["a"]}`): every name in it counts (a word of its text
      // too, which at worst reruns more). Only names, so its text never reads as an assignment.
      if (/[fFtT]/u.test(prefix))
        cur.code += `""${[...body.matchAll(/[A-Za-z_]\w*/gu)].map((m) => ` ${m[0]}`).join("")} `;
      else cur.code += /^(["'])__main__\1$/u.test(body) ? '"__main__"' : '""';
      for (const c of body) if (c === "\n") lineNo++;
      i = end;
    } else if (ch === "\\" && src[i + 1] === "\n") {
      cur.code += " ";
      lineNo++;
      i += 2;
    } else if (ch === "\n") {
      lineNo++;
      i++;
      if (depth > 0) cur.code += " ";
      else finish(i);
    } else if ("([{".includes(ch)) {
      depth++;
      cur.code += ch;
      i++;
    } else if (")]}".includes(ch)) {
      depth = Math.max(0, depth - 1);
      cur.code += ch;
      i++;
    } else if (ch === "\r") {
      i++;
    } else {
      PLAIN.lastIndex = i;
      // A backslash not ending a line is the only character the run may not start with.
      const run = PLAIN.exec(src)?.[0] ?? ch;
      cur.code += run;
      i += run.length;
    }
  }
  finish(src.length);
  return out;
}

const ID = String.raw`[\p{L}_][\p{L}\p{N}_]*`;
const DEF = new RegExp(`^(?:async\\s+)?def\\s+(${ID})`, "u");
const CLASS = new RegExp(`^class\\s+(${ID})`, "u");
const NAMES = new RegExp(`^\\(?\\s*\\*?${ID}(?:\\s*,\\s*\\*?${ID})*\\s*,?\\s*\\)?$`, "u");
const ANN = new RegExp(`^(${ID})\\s*:(?!=)`, "u");
const ASSIGN = /(?<![=<>!:+\-*/%&^|@])=(?!=)/uy;
const AUG_ASSIGN = /^[^=]*?(?:\*\*|\/\/|>>|<<|[-+*/%&^|@:])=(?!=)/u;
const BLOCK_WORDS = new Set(["try", "else", "finally", "except", "match", "case"]);
const MAIN_GUARD = /^if\s*\(?\s*__name__\s*==\s*"__main__"\s*\)?\s*:/u;

/** Names `import …` / `from … import …` binds; `*` for a star import. */
function importNames(code: string): string[] | undefined {
  const imp = /^import\s+(.+)$/u.exec(code);
  if (imp !== null)
    return imp[1]!.split(",").map((part) => {
      const m = /^\s*([\p{L}\p{N}_.\s]+?)(?:\s+as\s+(\S+))?\s*$/u.exec(part);
      if (m === null) return part.trim();
      return m[2] ?? m[1]!.split(".")[0]!.trim();
    });
  const from =
    /^from\s+\S+\s+import\s+(.+)$/u.exec(code) ?? /^from\s+\.+\s*import\s+(.+)$/u.exec(code);
  if (from === null) return undefined;
  return from[1]!
    .replace(/[()]/gu, "")
    .split(",")
    .map((part) => {
      const m = /^\s*(\*|\S+)(?:\s+as\s+(\S+))?\s*$/u.exec(part);
      return m?.[2] ?? m?.[1] ?? "";
    })
    .filter((n) => n !== "");
}

function namesIn(target: string): string[] {
  return [...target.matchAll(new RegExp(ID, "gu"))].map((m) => m[0]);
}

/** Kind and bound names of a statement starting with a column-0 logical line. */
function classify(code: string): { kind: TopStatementKind; names: string[] } {
  const def = DEF.exec(code);
  if (def !== null) return { kind: "def", names: [def[1]!] };
  const cls = CLASS.exec(code);
  if (cls !== null) return { kind: "class", names: [cls[1]!] };
  if (MAIN_GUARD.test(code)) return { kind: "ignored", names: [] };
  if (code === '""' || code === '"__main__"') return { kind: "ignored", names: [] };
  if (splitTop(code, /;/uy).length > 1) return { kind: "code", names: [] };
  const imported = importNames(code);
  if (imported !== undefined)
    return imported.includes("*")
      ? { kind: "star", names: [] }
      : { kind: "import", names: imported };
  const ann = ANN.exec(code);
  // `try:`, `else:` and `finally:` look like an annotation of a name.
  if (ann !== null && !BLOCK_WORDS.has(ann[1]!)) return { kind: "assign", names: [ann[1]!] };
  if (AUG_ASSIGN.test(code)) return { kind: "code", names: [] };
  const parts = splitTop(code, ASSIGN);
  if (parts.length > 1) {
    const targets = parts.slice(0, -1).map((t) => t.trim());
    if (!targets.every((t) => NAMES.test(t))) return { kind: "code", names: [] };
    return { kind: "assign", names: targets.flatMap(namesIn) };
  }
  return { kind: "code", names: [] };
}

/**
 * Splits Python source into its top-level statements (see {@link TopStatement}): a statement
 * runs from a column-0 logical line to the next one, so indented bodies, decorators and the
 * comments between belong to it. Never throws; text it cannot read is `code`, which makes
 * callers conservative.
 */
export function scanTopLevel(source: string): TopStatement[] {
  const out: TopStatement[] = [];
  let group: LogicalLine[] = [];
  const close = () => {
    if (group.length > 0) out.push(statementOf(source, group));
    group = [];
  };
  for (const line of logicalLines(source)) {
    const first = group[0];
    // Decorators run on into the definition they decorate.
    const decorating = first !== undefined && group.every((l) => l.code.startsWith("@"));
    if ((line.indent > 0 && first !== undefined) || decorating) {
      group.push(line);
      continue;
    }
    close();
    group.push(line);
  }
  close();
  return out;
}

function statementOf(source: string, group: readonly LogicalLine[]): TopStatement {
  const first = group[0]!;
  const last = group.at(-1)!;
  const headAt = group.findIndex((l) => !l.code.startsWith("@"));
  // A decorator with nothing after it is code that runs.
  const { kind, names } =
    headAt < 0 ? { kind: "code" as const, names: [] } : classify(group[headAt]!.code);
  return {
    kind,
    names,
    line: first.line,
    text: source.slice(first.start, last.end),
    code: group.map((l) => l.code).join("\n"),
    runsOnImport:
      headAt >= 0 &&
      runsOnImport(
        kind,
        group.slice(0, headAt).map((l) => l.code),
        group[headAt]!.code,
        group.slice(headAt + 1),
      ),
  };
}
