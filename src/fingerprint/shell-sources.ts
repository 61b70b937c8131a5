import path from "node:path";
import type { CodeScanner } from "./code-scanner.js";

// `$(dirname "$0")/x.sh`, `${BASH_SOURCE%/*}/x.sh` and friends all mean "next to this script".
const SCRIPT_DIR_PREFIX =
  /^(?:\$\(\s*dirname\s+\$(?:0|\{?BASH_SOURCE(?:\[0\])?\}?)\s*\)|\$\{BASH_SOURCE(?:\[0\])?%\/\*\}|\$\{0%\/\*\})\//u;

/** Paths given to `. x.sh` / `source x.sh` in a shell script, comments removed. */
export function parseShellSources(source: string): string[] {
  const out: string[] = [];
  for (const rawLine of source.split("\n")) {
    const line = rawLine.replace(/(^|\s)#.*$/u, "$1");
    for (const cmd of line.split(/;|&&|\|\||\s(?:then|do|else)\s/u)) {
      const m = /^\s*(?:\.|source)\s+(.+)$/u.exec(cmd);
      if (m === null) continue;
      // Quotes only group words here; dropping them keeps `"$(dirname "$0")"/x.sh` readable.
      const rest = m[1]!.replace(/["']/gu, "").replace(SCRIPT_DIR_PREFIX, "./");
      const p = rest.trim().split(/\s+/u)[0]!;
      // Anything still holding a variable depends on run-time state we cannot see.
      if (p !== "" && !p.includes("$") && !p.includes("`")) out.push(p);
    }
  }
  return out;
}

/**
 * Shell: `. ./x.sh` and `source x.sh`, relative to the script's directory (falling back to the
 * project root); the `$(dirname "$0")/` and `${BASH_SOURCE%/*}/` idioms are understood.
 */
export const shellScanner: CodeScanner<string> = {
  parse: parseShellSources,
  resolve(refs, fromFile, ctx) {
    const { fs } = ctx;
    const dir = path.dirname(fromFile);
    return refs.flatMap((ref) =>
      ctx.memo(`sh\0${dir}\0${ref}`, () => {
        const hit = [dir, fs.root].map((b) => path.resolve(b, ref)).find((abs) => fs.isFile(abs));
        return hit === undefined ? [] : [hit];
      }),
    );
  },
};
