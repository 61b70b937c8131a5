import path from "node:path";
import type { CodeScanner, ScanContext } from "./code-scanner.js";

/** One `source()`-like call: a path relative to the script (or the root, for `here()`). */
export interface RSource {
  path: string;
  /** True for `here("a", "b.R")`: relative to the project root, not the script. */
  fromRoot: boolean;
}

/** Drops `#` comments, leaving string literals (which may contain `#`) intact. */
function stripComments(src: string): string {
  let out = "";
  let quote: string | undefined;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (quote !== undefined) {
      out += c;
      if (c === "\\") out += src[++i] ?? "";
      else if (c === quote) quote = undefined;
    } else if (c === "#") {
      while (i + 1 < src.length && src[i + 1] !== "\n") i++;
    } else {
      if (c === '"' || c === "'") quote = c;
      out += c;
    }
  }
  return out;
}

const STRING = /^\s*(["'])((?:\\.|(?!\1)[^\\])*)\1\s*$/su;
// A dotted R name such as `data.source` is a different function, hence the look-behind.
const CALL = String.raw`(?<![\w.])(?:sys\.source|source|r_script)\s*\(\s*(?:file\s*=\s*)?`;
const PLAIN = new RegExp(`${CALL}(["'])((?:\\\\.|(?!\\1)[^\\\\])*)\\1`, "gsu");
const HERE = new RegExp(`${CALL}(?:here::)?here\\s*\\(([^()]*)\\)`, "gsu");

function unescapeR(s: string): string {
  return s.replace(/\\(.)/gsu, "$1");
}

/** Finds `source("x.R")`, `sys.source(...)`, `r_script(...)`, and `source(here(...))` calls. */
export function parseRSources(source: string): RSource[] {
  const code = stripComments(source);
  const out: RSource[] = [];
  for (const m of code.matchAll(PLAIN)) out.push({ path: unescapeR(m[2]!), fromRoot: false });
  for (const m of code.matchAll(HERE)) {
    const parts: string[] = [];
    // Every argument must be a string literal; `here(dir, "x.R")` cannot be placed statically.
    const args = m[1]!.trim() === "" ? [] : m[1]!.split(",");
    const ok = args.every((a) => {
      const s = STRING.exec(a);
      if (s !== null) parts.push(unescapeR(s[2]!));
      return s !== null;
    });
    if (ok && parts.length > 0) out.push({ path: parts.join("/"), fromRoot: true });
  }
  return out;
}

function resolveR(ctx: ScanContext, dir: string, ref: RSource): string[] {
  const { fs } = ctx;
  const bases = ref.fromRoot ? [fs.root] : [dir, ...ctx.rTasksDirs, fs.root];
  const hit = bases.map((b) => path.resolve(b, ref.path)).find((abs) => fs.isFile(abs));
  return hit === undefined ? [] : [hit];
}

/**
 * R: `source("x.R")`, `sys.source(...)`, `r_script(...)` with a literal path, resolved against
 * the script's own directory (Rscript runs there), then each `r_tasks_dirs` entry, then the
 * project root; and `source(here("a", "b.R"))` / `here::here("a/b.R")`, relative to the root.
 */
export const rScanner: CodeScanner<RSource> = {
  parse: parseRSources,
  resolve(refs, fromFile, ctx) {
    const dir = path.dirname(fromFile);
    return refs.flatMap((ref) =>
      ctx.memo(`r\0${ref.fromRoot ? "" : dir}\0${ref.path}`, () => resolveR(ctx, dir, ref)),
    );
  },
};
