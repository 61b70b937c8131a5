import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  observedExists as existsSync,
  observationUnusable,
} from "../fingerprint/observed-files.js";
import type { Graph } from "../graph/graph.js";
import { SpecError } from "../spec/errors.js";
import { findSpecFile, type Located, SPEC_FILE_NAMES } from "../spec/find-spec-file.js";
import type { CommandContext } from "./context.js";
import { printDiagnostics } from "./output.js";
import { packageFile } from "./package-files.js";
import { decodeLoaded, encodeLoaded, type Loaded } from "./spec-cache.js";

export type { Loaded };

const CACHE_VERSION = 3;

function packageVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as {
        version: string;
      }
    ).version;
  } catch {
    return "unknown";
  }
}

/**
 * Loads and fully validates the spec for a command; prints warnings, throws on errors.
 *
 * With `cache: true` (run, status, explain: the hot path of a no-change rerun), a spec that
 * validated cleanly before is read back from `.dagwright/spec-cache.json` when the spec file,
 * pyproject.toml, the working directory and the dagwright version are unchanged and every task
 * file still exists. The YAML parser and the schema are then never loaded. `validate` never uses
 * the cache.
 */
export async function loadForCommand(
  ctx: CommandContext,
  options: { cache?: boolean } = {},
): Promise<Loaded> {
  const cwd = process.cwd();
  const file = ctx.globals().file;
  const located = findSpecFile(cwd, file);
  observeSpecLookup(cwd, file, located);
  const root = path.dirname(located.file);
  const cacheFile = path.join(root, ".dagwright", "spec-cache.json");
  let key: string | undefined;
  if (options.cache) {
    const hash = createHash("sha256");
    hash.update(`${CACHE_VERSION}\0${packageVersion()}\0${cwd}\0${located.file}\0`);
    hash.update(readFileSync(located.file));
    const pyproject = path.join(root, "pyproject.toml");
    if (existsSync(pyproject)) hash.update(readFileSync(pyproject));
    key = hash.digest("hex");
    const hit = readCache(cacheFile, key);
    if (hit) return hit;
  }

  const [{ loadSpecWithDiagnostics, sortDiagnostics }, { checkAllGraphs }] = await Promise.all([
    import("../spec/load-spec.js"),
    import("../graph/build-graph.js"),
  ]);
  const result = loadSpecWithDiagnostics(file === undefined ? {} : { file });
  const diagnostics = [...result.diagnostics];
  let graphs: Record<string, Graph> = {};
  if (result.spec) {
    const checked = checkAllGraphs(result.spec, result.broken);
    diagnostics.push(...checked.diagnostics);
    graphs = checked.graphs;
  }
  const sorted = sortDiagnostics(diagnostics);
  if (!result.spec || sorted.some((d) => d.severity === "error")) throw new SpecError(sorted);
  printDiagnostics(ctx.o, sorted);
  // Warnings are printed by loading, not replayed from a no-change memo: plan every time.
  if (sorted.length > 0) observationUnusable();
  const loaded = { spec: result.spec, graphs };
  if (key !== undefined && sorted.length === 0) writeCache(cacheFile, key, loaded);
  return loaded;
}

/**
 * Records, for the no-change memo, the files whose presence or content chose and defined the spec:
 * the names looked for before the one found, the one found, and pyproject.toml next to it.
 */
function observeSpecLookup(cwd: string, explicit: string | undefined, located: Located): void {
  const given = explicit === undefined ? undefined : path.resolve(cwd, explicit);
  if (given !== located.file) {
    const dir = given ?? cwd; // -f DIR searches DIR like the working directory
    for (const name of SPEC_FILE_NAMES) {
      const candidate = path.join(dir, name);
      if (candidate === located.file) break;
      existsSync(candidate);
    }
  }
  existsSync(located.file);
  existsSync(path.join(path.dirname(located.file), "pyproject.toml"));
}

function readCache(file: string, key: string): Loaded | undefined {
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key: string; loaded: unknown };
    if (cached.key !== key) return undefined;
    const loaded = decodeLoaded(cached.loaded);
    const root = loaded.spec.root;
    // A deleted task file must be reported by a full load, not discovered by the task launcher.
    // Many tasks share a file: each is checked once.
    const files = new Set<string>();
    for (const t of Object.values(loaded.spec.tasks))
      if (t.file !== undefined && !t.file.includes("${")) files.add(t.file);
    for (const f of files) if (!existsSync(path.join(root, f))) return undefined;
    return loaded;
  } catch {
    return undefined;
  }
}

function writeCache(file: string, key: string, loaded: Loaded): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ key, loaded: encodeLoaded(loaded) }));
    renameSync(tmp, file);
  } catch {
    // The cache is an optimisation; a read-only project still runs.
  }
}

/** Splits repeatable, comma-separated flag values: `--only a,b --only c` → [a, b, c]. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  ];
}
