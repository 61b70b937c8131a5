import path from "node:path";
import { hashDuckdbTables, isDuckdbOutput } from "../fingerprint/duckdb-table-hash.js";
import { expandPatterns } from "../fingerprint/expand-patterns.js";
import { hashFiles } from "../fingerprint/hash-files.js";
import type { PlanContext } from "../plan/plan-task.js";
import { projectDatabasePath } from "../spec/duckdb-database.js";
import type { OutputRecord } from "../state/state-store.js";
import { outputEscapes } from "./output-realpath.js";

/**
 * The files a task (or one item) wrote for its declared output patterns, hashed, as
 * project-relative records; or the patterns that matched nothing. Patterns are relative to the
 * outputs directory (project root, or the scratch dir for kptn specs). A `duckdb://schema.table`
 * output is recorded under that name with its table's content hash (see hashDuckdbTables), and a
 * table that does not exist is missing. A file that a symbolic link puts outside the outputs
 * directory is `escaped`: never recorded. In a kptn.yaml project (unless
 * `settings.strict_outputs`), a file pattern that matches nothing is kptn's loose declaration,
 * not a failure: it is returned as `unmatched` beside the records of what did match.
 */
export async function collectOutputs(
  plan: PlanContext,
  patterns: readonly string[],
): Promise<
  | { records: OutputRecord[]; unmatched?: string[] }
  | { missing: string[] }
  | { escaped: { rel: string; real: string } }
> {
  const files: string[] = [];
  const missing: string[] = [];
  const missingTables: string[] = [];
  const tables = await collectTables(plan, patterns, missingTables);
  if (missingTables.length > 0) return { missing: missingTables };
  for (const pattern of patterns) {
    if (isDuckdbOutput(pattern)) continue;
    const found = await expandPatterns(plan.outputsDir, [pattern]);
    if (found.length === 0) missing.push(pattern);
    for (const f of found) {
      const real = outputEscapes(plan, f);
      if (real !== undefined) return { escaped: { rel: f, real } };
      files.push(
        path.relative(plan.spec.root, path.join(plan.outputsDir, f)).split(path.sep).join("/"),
      );
    }
  }
  const loose = plan.spec.format === "kptn" && plan.spec.settings.strictOutputs !== true;
  if (missing.length > 0 && !loose) return { missing };
  const hashes = await hashFiles(
    files.map((f) => path.join(plan.spec.root, f)),
    plan.fileCache,
  );
  const records: OutputRecord[] = [...tables];
  for (const f of files) {
    const h = hashes.get(path.join(plan.spec.root, f));
    if (h === undefined) return { missing: [f] }; // removed between listing and hashing
    records.push({ path: f, hash: h.hash, size: h.size, mtimeMs: h.mtimeMs });
  }
  return missing.length > 0 ? { records, unmatched: missing } : { records };
}

/** The warning for kptn output patterns that matched nothing (see {@link collectOutputs}). */
export function unmatchedWarning(unmatched: readonly string[]): string {
  return `declared output${unmatched.length === 1 ? "" : "s"} matched no file: ${unmatched.join(", ")} (kptn.yaml projects warn; set settings.strict_outputs: true to fail instead)`;
}

/** The records of the `duckdb://` outputs among `patterns`; the missing ones go to `missing`. */
async function collectTables(
  plan: PlanContext,
  patterns: readonly string[],
  missing: string[],
): Promise<OutputRecord[]> {
  const urls = patterns.filter(isDuckdbOutput);
  if (urls.length === 0) return [];
  const db = projectDatabasePath(plan.spec.root, plan.spec.settings);
  const records: OutputRecord[] = [];
  for (const [url, h] of await hashDuckdbTables(db, urls)) {
    if (h === undefined) missing.push(url);
    else records.push({ path: url, hash: h.hash, size: h.rows, mtimeMs: 0 });
  }
  return records;
}
