import path from "node:path";
import { InvalidArgumentError } from "commander";
import { FsReads } from "../fingerprint/fs-reads.js";
import { SpecError } from "../spec/errors.js";
import { findSpecFile } from "../spec/find-spec-file.js";
import type { CommandContext } from "./context.js";
import { printDiagnostics } from "./output.js";
import type { Loaded } from "./spec-cache.js";
import { readSpecCache, specCacheKey, specCachePath, writeSpecCache } from "./spec-cache-file.js";

export type { Loaded };

/**
 * Loads and fully validates the spec for a command; prints warnings, throws on errors. Every
 * file-system read goes through `reads` (a new record when not given), so the no-change memo and
 * the spec cache know what the loaded spec rests on.
 *
 * With `cache: true` (run, status, explain: the hot path of a no-change rerun), a spec that
 * validated cleanly before is read back from `.dagwright/spec-cache.json` when the spec file's
 * bytes, the working directory and the dagwright build are the same and every file-system read the
 * full load made (pyproject.toml, each task file probe along its search path, code read by
 * validation) still looks the same. The YAML parser and the schema are then never loaded.
 * `validate` never uses the cache, and `DAGWRIGHT_SPEC_CACHE=0` turns it off.
 *
 * `cwd` is where the spec is looked for and what `-f` is relative to (default: this process's
 * working directory); a worker serving several projects passes each job's root.
 */
export async function loadForCommand(
  ctx: CommandContext,
  options: { cache?: boolean; reads?: FsReads; cwd?: string } = {},
): Promise<Loaded> {
  const reads = options.reads ?? new FsReads();
  const cwd = options.cwd ?? process.cwd();
  const file = ctx.globals().file;
  const located = findSpecFile(cwd, file, reads);
  const cacheFile = specCachePath(path.dirname(located.file));
  let key: string | undefined;
  if (options.cache && reads.env("DAGWRIGHT_SPEC_CACHE", process.env) !== "0") {
    key = specCacheKey(reads, cwd, file, located);
    const hit = readSpecCache(cacheFile, key, reads);
    if (hit) return hit;
  }

  const { loadCheckedSpec } = await import("../graph/check-spec.js");
  // Loading's own record: what the cache entry rests on. It joins the command's record below.
  const loadReads = new FsReads();
  const result = loadCheckedSpec({
    cwd,
    ...(file === undefined ? {} : { file }),
    files: loadReads,
  });
  reads.adopt(loadReads.reads());
  const { graphs, diagnostics: sorted } = result;
  if (!result.spec || sorted.some((d) => d.severity === "error")) throw new SpecError(sorted);
  printDiagnostics(ctx.o, sorted);
  // Warnings are printed by loading, not replayed from a no-change memo: plan every time.
  if (sorted.length > 0) reads.markUnusable();
  const loaded = { spec: result.spec, graphs };
  if (key !== undefined && sorted.length === 0 && !loadReads.unusable)
    writeSpecCache(cacheFile, key, loaded, loadReads.reads());
  return loaded;
}

/**
 * Splits repeatable, comma-separated flag values: `--only a,b --only c` → [a, b, c]. A value with
 * no name at all (`--only ''`, `--tags ,`: a CI script's empty variable) is a usage error, never
 * "no filter", which would select the whole graph.
 */
export function collectList(value: string, previous: string[] = []): string[] {
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (names.length === 0)
    throw new InvalidArgumentError(
      "It names no task or tag: pass at least one name, or leave the flag out to select everything",
    );
  return [...previous, ...names];
}
