import path from "node:path";
import type { CodeScanner, ScanContext } from "./code-scanner.js";

/** Drops `//` and `/* *\/` comments, leaving string and template literals intact. */
function stripComments(src: string): string {
  let out = "";
  let quote: string | undefined;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (quote !== undefined) {
      out += c;
      if (c === "\\") out += src[++i] ?? "";
      else if (c === quote || (c === "\n" && quote !== "`")) quote = undefined;
    } else if (c === "/" && src[i + 1] === "/") {
      while (i + 1 < src.length && src[i + 1] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end === -1 ? src.length : end + 1;
      out += " ";
    } else {
      if (c === '"' || c === "'" || c === "`") quote = c;
      out += c;
    }
  }
  return out;
}

const SPEC = String.raw`(["'])([^"'\n]+)\1`;
const PATTERNS = [
  // import x from "m"; import {a} from "m"; export * from "m"; export {a} from "m"
  new RegExp(String.raw`\b(?:import|export)\b[^;"'()]*?\bfrom\s*${SPEC}`, "g"),
  // import "m"
  new RegExp(String.raw`\bimport\s*${SPEC}`, "g"),
  // import("m"), require("m")
  new RegExp(String.raw`(?:\bimport|\brequire)\s*\(\s*${SPEC}\s*\)`, "g"),
];

/** Relative module specifiers (`./x`, `../y`) imported, re-exported or required by JS/TS source. */
export function parseNodeImports(source: string): string[] {
  const code = stripComments(source);
  const out = new Set<string>();
  for (const re of PATTERNS) {
    for (const m of code.matchAll(re)) {
      const spec = m[2]!.replace(/[?#].*$/u, "");
      if (spec === "." || spec === ".." || spec.startsWith("./") || spec.startsWith("../")) {
        out.add(spec);
      }
    }
  }
  return [...out];
}

const EXTENSIONS = [".ts", ".tsx", ".mts", ".js", ".mjs", ".cjs"];
/** TypeScript ESM writes the emitted name (`./util.js`) for a source file `./util.ts`. */
const TS_FOR_JS: Record<string, string[]> = {
  ".js": [".ts", ".tsx"],
  ".jsx": [".tsx"],
  ".mjs": [".mts"],
  ".cjs": [".cts"],
};

function resolveSpecifier(ctx: ScanContext, dir: string, spec: string): string | undefined {
  const { fs } = ctx;
  const abs = path.resolve(dir, spec);
  const ext = path.extname(abs);
  const stem = abs.slice(0, abs.length - ext.length);
  const candidates = [
    // The TypeScript source first: tsx runs it even when a stale build output sits beside it.
    ...(TS_FOR_JS[ext] ?? []).map((e) => stem + e),
    abs,
    ...EXTENSIONS.map((e) => abs + e),
    ...EXTENSIONS.map((e) => path.join(abs, `index${e}`)),
  ];
  return candidates.find((c) => fs.isFile(c));
}

/**
 * TypeScript/JavaScript: relative specifiers in static and dynamic `import`, `export … from` and
 * `require`, resolved like Node plus TypeScript: `./util.js` finds `util.ts`; extensionless
 * specifiers try `.ts .tsx .mts .js .mjs .cjs`, then `index.*`. Package imports are ignored.
 */
export const nodeScanner: CodeScanner<string> = {
  parse: parseNodeImports,
  resolve(refs, fromFile, ctx) {
    const dir = path.dirname(fromFile);
    return refs.flatMap((spec) =>
      ctx.memo(`js\0${dir}\0${spec}`, () => {
        const hit = resolveSpecifier(ctx, dir, spec);
        return hit === undefined ? [] : [hit];
      }),
    );
  },
};
