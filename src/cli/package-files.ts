import { fileURLToPath } from "node:url";
import { signatureOf, statOrUndefined } from "../fingerprint/fs-reads.js";

/**
 * Absolute path of a file shipped with dagwright (`package.json`, `templates/init`, …), given
 * relative to the package root. This module sits two directories below the root in every layout
 * the CLI runs from: `src/cli/` (tests), `dist/cli/` (tsc output) and `dist/bundle/` (the bundled
 * CLI that `bin/dagwright.cjs` loads), so one relative URL serves them all.
 */
export function packageFile(rel: string): string {
  return fileURLToPath(new URL(`../../${rel}`, import.meta.url));
}

/**
 * Identifies this dagwright build: the metadata of its package.json and of the bundled CLI. Any
 * reinstall or rebuild changes it, so a shortcut keyed on it (the spec cache, the no-change memo)
 * never outlives the code that wrote it, without anyone bumping a version by hand.
 */
export function buildSignature(): string[] {
  return ["package.json", "dist/bundle/dagwright.cjs"].map((f) =>
    signatureOf(statOrUndefined(packageFile(f))),
  );
}
