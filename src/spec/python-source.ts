/**
 * Small readers of Python source text shared by `validate` (signatures) and fingerprinting
 * (imports, config keys): no Python process, comments and strings never mistaken for code.
 */

/**
 * Blanks out comments and string literals (each string becomes `""`, line breaks kept) so only
 * real code is matched.
 */
export function stripStringsAndComments(src: string): string {
  let out = "";
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === "#") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === '"' || c === "'") {
      const quote = src.startsWith(c.repeat(3), i) ? c.repeat(3) : c;
      i += quote.length;
      while (i < n) {
        const d = src[i]!;
        if (d === "\\") {
          if (src[i + 1] === "\n") out += "\n";
          i += 2;
        } else if (src.startsWith(quote, i)) {
          i += quote.length;
          break;
        } else if (d === "\n") {
          if (quote.length === 1) break;
          out += "\n";
          i++;
        } else {
          i++;
        }
      }
      out += '""';
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

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
export function lastLogicalLine(code: string): string {
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

/** Splits `text` at `sep` (a sticky-capable regexp) where no bracket is open. */
export function splitTop(text: string, sep: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if ("([{".includes(ch)) depth++;
    else if (")]}".includes(ch)) depth--;
    else if (depth === 0) {
      sep.lastIndex = i;
      const m = sep.exec(text);
      if (m !== null && m.index === i) {
        parts.push(text.slice(last, i));
        last = i + m[0].length;
        i = last - 1;
      }
    }
  }
  parts.push(text.slice(last));
  return parts;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/gu, "\\$&");
}

/**
 * The one top-level `def fn(` (or `async def`) of `code` (module source with strings and comments
 * blanked by {@link stripStringsAndComments}), with its parameter list's text; `"decorated"` when
 * a decorator may change what it accepts; `"unknown"` when there is none, more than one, a
 * rebinding `fn = …` at module level replaces it, or its brackets do not close.
 */
export function topLevelDef(
  code: string,
  fn: string,
): { index: number; params: string } | "decorated" | "unknown" {
  const name = escapeRegExp(fn);
  const defs = [
    ...code.matchAll(new RegExp(`^(?:async[ \\t]+)?def[ \\t]+${name}[ \\t]*\\(`, "gmu")),
  ];
  if (defs.length !== 1) return "unknown";
  if (new RegExp(`^${name}[ \\t]*(?::[^=\\n]*)?=(?!=)`, "mu").test(code)) return "unknown";
  const def = defs[0]!;
  if (lastLogicalLine(code.slice(0, def.index)).startsWith("@")) return "decorated";
  const params = bracketed(code, def.index + def[0].length - 1);
  return params === undefined ? "unknown" : { index: def.index, params };
}
