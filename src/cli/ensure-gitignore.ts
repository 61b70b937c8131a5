import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * Makes `<dir>/.gitignore` ignore each of `entries` (`.dagwright/`, …): creates the file, or
 * appends the missing entries to the one there, leaving every line it has untouched. An entry
 * counts as present in any of its usual spellings (`.dagwright`, `/.dagwright/`).
 *
 * @returns what it did: `created`, `updated` (with the entries added) or `unchanged`.
 */
export function ensureGitignore(
  dir: string,
  entries: readonly string[],
): { action: "created" | "updated" | "unchanged"; added: string[] } {
  const file = path.join(dir, ".gitignore");
  const before = existsSync(file) ? readFileSync(file, "utf8") : undefined;
  const present = new Set((before ?? "").split(/\r?\n/).map(canonical));
  const added = entries.filter((e) => !present.has(canonical(e)));
  if (before === undefined) {
    writeFileSync(file, `${added.join("\n")}\n`);
    return { action: "created", added };
  }
  if (added.length === 0) return { action: "unchanged", added };
  const separator = before === "" || before.endsWith("\n") ? "" : "\n";
  writeFileSync(file, `${before}${separator}${added.join("\n")}\n`);
  return { action: "updated", added };
}

/** `/.dagwright/`, `.dagwright/` and `.dagwright` ignore the same directory at the root. */
function canonical(line: string): string {
  return line.trim().replace(/^\//, "").replace(/\/$/, "");
}
