/** One `/`-separated piece of a glob. */
export type GlobSegment =
  | { type: "literal"; name: string }
  | { type: "globstar" }
  | { type: "match"; regex: RegExp; dot: boolean };

const GLOB_CHARS = new Set(["*", "?", "\\"]);

/** Escapes a string so {@link parseGlob} reads it literally (used for `${VAR}` values). */
export function escapeGlob(s: string): string {
  let out = "";
  for (const ch of s) out += GLOB_CHARS.has(ch) ? `\\${ch}` : ch;
  return out;
}

function parseSegment(seg: string): GlobSegment {
  if (seg === "**") return { type: "globstar" };
  let literal = "";
  let source = "";
  let hasGlob = false;
  for (let i = 0; i < seg.length; i++) {
    const ch = seg[i]!;
    if (ch === "\\" && i + 1 < seg.length) {
      const next = seg[++i]!;
      literal += next;
      source += next.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else if (ch === "*") {
      hasGlob = true;
      // `a**b` inside a segment is just a star.
      if (!source.endsWith("[^/]*")) source += "[^/]*";
    } else if (ch === "?") {
      hasGlob = true;
      source += "[^/]";
    } else {
      literal += ch;
      source += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  if (!hasGlob) return { type: "literal", name: literal };
  return { type: "match", regex: new RegExp(`^${source}$`, "u"), dot: seg.startsWith(".") };
}

/**
 * Splits a project-relative glob into segments, resolving `.` and `..` lexically. Supports `*`
 * and `?` within a segment, `**` as a whole segment (any depth, including none) and `\` to
 * escape. Returns undefined for a pattern that would leave the root (too many `..`, or `..`
 * after a wildcard) so callers can skip it.
 */
export function parseGlob(pattern: string): GlobSegment[] | undefined {
  const out: GlobSegment[] = [];
  for (const raw of pattern.split("/")) {
    if (raw === "" || raw === ".") continue;
    if (raw === "..") {
      if (out.at(-1)?.type !== "literal") return undefined;
      out.pop();
      continue;
    }
    out.push(parseSegment(raw));
  }
  return out;
}
