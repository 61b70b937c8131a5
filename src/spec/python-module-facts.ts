import { splitTop } from "./python-source.js";
/**
 * What a Python module's top level defines, as far as deciding how a task file runs needs:
 * read by a small line scanner (no Python needed), so `validate` can check it.
 */
export interface PythonModuleFacts {
  /** Names of the functions defined directly in the module body (`def`/`async def` at column 0), in order. */
  functions: string[];
  /**
   * Every name the module's top level may bind: `def`, `class`, assignment targets and imports,
   * also inside top-level `if`/`else`/`try`/`with` blocks, but not in function or class bodies,
   * loops, or an `if __name__ == "__main__":` block (which does not run on import).
   */
  bound: Set<string>;
  /** `from m import *` at the top level: any name may be bound. */
  starImport: boolean;
  /**
   * `globals()`, `locals()`, `vars()`, `exec(`, `setattr(`, `sys.modules` or `__dict__` appear, or
   * the module defines `__getattr__`: names may be bound, or looked up, at run time.
   */
  dynamic: boolean;
  /** The module body has an `if __name__ == "__main__":` block. */
  mainGuard: boolean;
}

interface LogicalLine {
  indent: number;
  /** Code with comments removed and string literals blanked to `""` (`"__main__"` kept). */
  code: string;
}

const PREFIX = /(?:^|[^\w])([rRbBuUfF]{1,2})$/u;

/** Reads a string literal starting at `i` (the quote); returns its content and the index after it. */
function readString(src: string, i: number): { content: string; end: number } {
  const q = src[i]!;
  const triple = src.startsWith(q.repeat(3), i);
  const close = triple ? q.repeat(3) : q;
  let j = i + close.length;
  while (j < src.length) {
    const ch = src[j]!;
    if (ch === "\\") j += 2;
    else if (src.startsWith(close, j))
      return { content: src.slice(i + close.length, j), end: j + close.length };
    // An unterminated one-line string ends at the line's end, as Python's tokenizer gives up there.
    else if (ch === "\n" && !triple) return { content: src.slice(i + 1, j), end: j };
    else j++;
  }
  return { content: src.slice(i + close.length), end: src.length };
}

/** Splits source into logical lines: brackets, backslashes and triple-quoted strings joined. */
function logicalLines(src: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  let code = "";
  let indent = -1;
  let depth = 0;
  let i = 0;
  const end = () => {
    if (code.trim() !== "") out.push({ indent: Math.max(indent, 0), code: code.trim() });
    code = "";
    indent = -1;
    depth = 0;
  };
  while (i < src.length) {
    const ch = src[i]!;
    if (indent < 0) {
      let width = 0;
      while (src[i] === " " || src[i] === "\t" || src[i] === "\f") {
        width = src[i] === "\t" ? width + 8 - (width % 8) : width + 1;
        i++;
      }
      indent = width;
      continue;
    }
    if (ch === "#") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (ch === "'" || ch === '"') {
      const prefix = PREFIX.exec(code)?.[1] ?? "";
      code = code.slice(0, code.length - prefix.length);
      const s = readString(src, i);
      const plain = !/[bBfF]/u.test(prefix);
      code += plain && s.content === "__main__" ? '"__main__"' : '""';
      i = s.end;
    } else if (ch === "\\" && src[i + 1] === "\n") {
      code += " ";
      i += 2;
    } else if (ch === "\n" || (ch === "\r" && src[i + 1] !== "\n")) {
      i++;
      if (depth > 0) code += " ";
      else end();
    } else {
      if ("([{".includes(ch)) depth++;
      else if (")]}".includes(ch)) depth = Math.max(0, depth - 1);
      if (ch !== "\r") code += ch;
      i++;
    }
  }
  end();
  return out;
}

const KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(
    " ",
  ),
);

/** Names in an assignment target, as Python's `ast.walk` over it finds them (attributes aside). */
function targetNames(target: string): string[] {
  const names: string[] = [];
  for (const m of target.matchAll(/(\.\s*)?\b([A-Za-z_]\w*)\b/gu))
    if (m[1] === undefined && !KEYWORDS.has(m[2]!)) names.push(m[2]!);
  return names;
}

const ASSIGN = /(?<![=<>!:+\-*/%&^|@])=(?!=)/uy;
const AUG_ASSIGN = /^(.+?)(?:\*\*|\/\/|>>|<<|[-+*/%&^|@])=(?!=)/u;
const ANN_ASSIGN = /^([A-Za-z_][\w.]*(?:\[.*\])?)\s*:(?!=)/u;

/** Names one simple statement binds. */
function bindings(stmt: string, facts: PythonModuleFacts): void {
  const imp = /^import\s+(.+)$/u.exec(stmt);
  if (imp !== null) {
    for (const part of imp[1]!.split(",")) {
      const m = /^\s*([\w.]+)(?:\s+as\s+(\w+))?\s*$/u.exec(part);
      if (m !== null) facts.bound.add(m[2] ?? m[1]!.split(".")[0]!);
    }
    return;
  }
  const from = /^from\s+\S+\s+import\s+(.+)$/u.exec(stmt);
  if (from !== null) {
    for (const part of from[1]!.replace(/[()]/gu, "").split(",")) {
      const m = /^\s*(\*|\w+)(?:\s+as\s+(\w+))?\s*$/u.exec(part);
      if (m?.[1] === "*") facts.starImport = true;
      else if (m !== null) facts.bound.add(m[2] ?? m[1]!);
    }
    return;
  }
  const aug = AUG_ASSIGN.exec(stmt);
  if (aug !== null) {
    for (const n of targetNames(aug[1]!)) facts.bound.add(n);
    return;
  }
  const parts = splitTop(stmt, ASSIGN);
  if (parts.length > 1) {
    for (const t of parts.slice(0, -1)) for (const n of targetNames(t)) facts.bound.add(n);
    return;
  }
  const ann = ANN_ASSIGN.exec(stmt);
  if (ann !== null) for (const n of targetNames(ann[1]!)) facts.bound.add(n);
}

const HEADER = /^(async\s+)?(def|class|if|elif|else|try|except|finally|with|for|while|match)\b/u;
const MAIN_GUARD = /^if\s*\(?\s*__name__\s*==\s*"__main__"\s*\)?\s*:/u;

interface Frame {
  indent: number;
  counts: boolean;
}

/**
 * Scans Python source for its top-level functions and bindings (see {@link PythonModuleFacts}).
 * Comments and string literals are skipped, including `def`s inside triple-quoted strings.
 * Errs toward "may be bound": it never throws, and text it cannot read binds nothing.
 */
export function scanPythonModule(source: string): PythonModuleFacts {
  const facts: PythonModuleFacts = {
    functions: [],
    bound: new Set(),
    starImport: false,
    dynamic: /\b(?:(?:globals|locals|vars|exec|setattr)\s*\(|sys\.modules\b|__dict__)/u.test(
      source,
    ),
    mainGuard: false,
  };
  const frames: Frame[] = [];
  // The kind of the last compound statement at each indent: an `else:` after a loop is a loop's.
  const lastHeader = new Map<number, { loop: boolean; counts: boolean }>();
  for (const line of logicalLines(source)) {
    while (frames.length > 0 && frames.at(-1)!.indent >= line.indent) frames.pop();
    for (const k of [...lastHeader.keys()]) if (k > line.indent) lastHeader.delete(k);
    const counts = frames.at(-1)?.counts ?? true;
    if (line.code.startsWith("@")) continue;
    let head = HEADER.exec(line.code);
    // `match` is a keyword only as a statement header: `match = 1` is an assignment.
    if (head?.[2] === "match" && !/^match\b[^=]*:$/u.test(line.code)) head = null;
    if (head === null) {
      if (counts) for (const stmt of splitTop(line.code, /;/uy)) bindings(stmt.trim(), facts);
      continue;
    }
    const word = head[2]!;
    let bodyCounts: boolean;
    if (word === "def" || word === "class") {
      const name = /^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/u.exec(line.code)?.[1];
      if (name !== undefined && counts) facts.bound.add(name);
      if (name !== undefined && word === "def" && frames.length === 0) facts.functions.push(name);
      bodyCounts = false;
    } else if (word === "if" && MAIN_GUARD.test(line.code)) {
      if (frames.length === 0) facts.mainGuard = true;
      bodyCounts = false;
      lastHeader.set(line.indent, { loop: false, counts });
    } else if (word === "for" || word === "while" || word === "match") {
      bodyCounts = false;
      lastHeader.set(line.indent, { loop: true, counts });
    } else if (word === "else") {
      bodyCounts = counts && !(lastHeader.get(line.indent)?.loop ?? false);
    } else {
      bodyCounts = counts;
      if (word === "if" || word === "try") lastHeader.set(line.indent, { loop: false, counts });
    }
    const colon = splitTop(line.code, /:(?!=)/uy);
    const rest = colon.length > 1 ? colon.slice(1).join(":").trim() : "";
    if (rest !== "" && word !== "def" && word !== "class") {
      // `if x: y = 1`: the body is on the header's line.
      if (bodyCounts) for (const stmt of splitTop(rest, /;/uy)) bindings(stmt.trim(), facts);
    } else if (rest === "" || word === "def" || word === "class") {
      frames.push({ indent: line.indent, counts: bodyCounts });
    }
  }
  if (facts.bound.has("__getattr__")) facts.dynamic = true;
  return facts;
}
