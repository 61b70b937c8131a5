import { fileURLToPath } from "node:url";

/**
 * Absolute path of a file shipped with dagwright (`package.json`, `templates/init`, …), given
 * relative to the package root. This module sits two directories below the root in every layout
 * the CLI runs from: `src/cli/` (tests), `dist/cli/` (tsc output) and `dist/bundle/` (the bundled
 * CLI that `bin/dagwright.cjs` loads), so one relative URL serves them all.
 */
export function packageFile(rel: string): string {
  return fileURLToPath(new URL(`../../${rel}`, import.meta.url));
}
