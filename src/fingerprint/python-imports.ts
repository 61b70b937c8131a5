import path from "node:path";
import { stripStringsAndComments } from "../spec/python-source.js";
import type { CodeScanner, ScanContext } from "./code-scanner.js";

export { stripStringsAndComments };

/** One import statement: `from ..a.b import c, d` is `{level: 2, module: ["a","b"], names: ["c","d"]}`. */
export interface PythonImport {
  /** Leading dots of a relative import; 0 for absolute. */
  level: number;
  module: string[];
  /** Names after `from … import`; empty for `import a.b`. `*` is dropped. */
  names: string[];
}

/** Joins bracketed and backslash-continued lines into logical lines, then splits on `;`. */
function statements(code: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let line = "";
  for (let i = 0; i < code.length; i++) {
    const c = code[i]!;
    if (c === "(" || c === "[" || c === "{") depth++;
    else if ((c === ")" || c === "]" || c === "}") && depth > 0) depth--;
    if (c === "\\" && code[i + 1] === "\n") {
      line += " ";
      i++;
    } else if (c === "\n") {
      if (depth > 0) {
        line += " ";
      } else {
        out.push(...line.split(";"));
        line = "";
      }
    } else {
      line += c;
    }
  }
  out.push(...line.split(";"));
  return out;
}

const ID = String.raw`[\p{L}_][\p{L}\p{N}_]*`;
const DOTTED = new RegExp(`^${ID}(?:\\s*\\.\\s*${ID})*$`, "u");
// `try: import x` and `else: import y` put an import after a block header on one line.
const HEADER = String.raw`(?:(?:try|else|finally|(?:if|elif|except|with)\b[^:]*)\s*:\s*)?`;
const IMPORT = new RegExp(`^\\s*${HEADER}import\\s+(.+)$`, "u");
const FROM = new RegExp(
  `^\\s*${HEADER}from\\s+(\\.*)\\s*([\\p{L}\\p{N}_.\\s]*?)\\s+import\\s+(.+)$`,
  "u",
);

function dotted(s: string): string[] | undefined {
  const t = s.trim();
  return DOTTED.test(t) ? t.split(".").map((p) => p.trim()) : undefined;
}

function withoutAlias(s: string): string {
  return s.replace(/\s+as\s+\S+\s*$/u, "").trim();
}

/** Parses every `import …` and `from … import …` statement in Python source. */
export function parsePythonImports(source: string): PythonImport[] {
  const out: PythonImport[] = [];
  for (const stmt of statements(stripStringsAndComments(source))) {
    const from = FROM.exec(stmt);
    if (from !== null) {
      const level = from[1]!.length;
      const mod = from[2]!.trim();
      const module = mod === "" ? [] : dotted(mod);
      if (module === undefined || (level === 0 && module.length === 0)) continue;
      const names = from[3]!
        .replace(/[()]/g, " ")
        .split(",")
        .map(withoutAlias)
        .filter((name) => name !== "" && name !== "*" && DOTTED.test(name) && !name.includes("."));
      out.push({ level, module, names });
      continue;
    }
    const imp = IMPORT.exec(stmt);
    if (imp === null) continue;
    for (const part of imp[1]!.split(",")) {
      const module = dotted(withoutAlias(part));
      if (module !== undefined) out.push({ level: 0, module, names: [] });
    }
  }
  return out;
}

interface Resolved {
  files: string[];
  /** Set when the module is a package (a directory), so `from it import sub` can find `sub`. */
  packageDir?: string;
}

/** Python's per-directory precedence: regular package, then module file, then namespace dir. */
function resolveChain(ctx: ScanContext, base: string, parts: readonly string[]): Resolved {
  const { fs } = ctx;
  const files: string[] = [];
  let dir = base;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    // Parts are identifiers (no dots or slashes), so concatenation is a safe, cheap join.
    const sub = `${dir}${path.sep}${parts[i]!}`;
    const init = `${sub}${path.sep}__init__.py`;
    if (fs.isFile(init)) {
      files.push(init);
    } else if (fs.isFile(`${sub}.py`)) {
      files.push(`${sub}.py`);
      return { files };
    } else if (!fs.isDir(sub)) {
      return { files };
    }
    if (last) return { files, packageDir: sub };
    dir = sub;
  }
  return { files };
}

function submodules(ctx: ScanContext, resolved: Resolved, names: readonly string[]): string[] {
  if (resolved.packageDir === undefined) return [];
  const dir = resolved.packageDir;
  return names.flatMap((name) => resolveChain(ctx, dir, [name]).files);
}

function resolveAbsolute(ctx: ScanContext, imp: PythonImport, fromFile: string): string[] {
  const { fs } = ctx;
  const bases = [...new Set([path.dirname(fromFile), ...ctx.pyTasksDirs, fs.root])];
  const top = imp.module[0]!;
  // The first base holding a regular package or module wins, as on sys.path.
  let chosen = bases.find(
    (b) =>
      fs.isFile(`${b}${path.sep}${top}${path.sep}__init__.py`) ||
      fs.isFile(`${b}${path.sep}${top}.py`),
  );
  // Otherwise a namespace package: the first base where the dotted path leads to a file.
  if (chosen === undefined) {
    chosen = bases.find((b) => {
      if (!fs.isDir(`${b}${path.sep}${top}`)) return false;
      const r = resolveChain(ctx, b, imp.module);
      return r.files.length > 0 || submodules(ctx, r, imp.names).length > 0;
    });
  }
  if (chosen === undefined) return [];
  const r = resolveChain(ctx, chosen, imp.module);
  return [...r.files, ...submodules(ctx, r, imp.names)];
}

function resolveRelative(ctx: ScanContext, imp: PythonImport, fromFile: string): string[] {
  const { fs } = ctx;
  let pkg = path.dirname(fromFile);
  for (let i = 1; i < imp.level; i++) pkg = path.dirname(pkg);
  if (!fs.inside(pkg)) return [];
  const files: string[] = [];
  const init = path.join(pkg, "__init__.py");
  if (fs.isFile(init)) files.push(init);
  const r: Resolved =
    imp.module.length === 0 ? { files: [], packageDir: pkg } : resolveChain(ctx, pkg, imp.module);
  return [...files, ...r.files, ...submodules(ctx, r, imp.names)];
}

/**
 * Python: `import a.b`, `from a.b import c` (and `c` as submodule `a/b/c.py`), and relative
 * `from .m import x` / `from .. import y`. Absolute modules are looked up in the importing file's
 * directory, then each `py_tasks_dirs` entry, then the project root; package `__init__.py` files
 * on the way are included. Modules found nowhere in the project (stdlib, site-packages) are
 * ignored.
 */
export const pythonScanner: CodeScanner<PythonImport> = {
  parse: parsePythonImports,
  resolve(refs, fromFile, ctx) {
    const dir = path.dirname(fromFile);
    return refs.flatMap((imp) =>
      ctx.memo(`py\0${dir}\0${imp.level}\0${imp.module.join(".")}\0${imp.names.join(",")}`, () =>
        imp.level === 0 ? resolveAbsolute(ctx, imp, fromFile) : resolveRelative(ctx, imp, fromFile),
      ),
    );
  },
};
