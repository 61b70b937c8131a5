import { FsReads } from "../fingerprint/fs-reads.js";
import type { Graph } from "../graph/graph.js";
import type { Diagnostic } from "../spec/diagnostic.js";
import { SpecError } from "../spec/errors.js";
import type { Spec } from "../spec/types.js";
import { WorkerPools } from "../tasks/worker-pools.js";
import { openStore } from "./open-store.js";
import { Project } from "./project.js";
import { decodeRenderedEnv, envOverrides } from "./project-env.js";
import type { ProjectCore } from "./run-scope.js";
import { storeFileCache } from "./store-file-cache.js";

/** A validated spec and every graph of it, checked (what the CLI's spec cache holds). */
export interface LoadedSpec {
  spec: Spec;
  graphs: Record<string, Graph>;
}

/** How {@link openProject} finds and opens a project. Nothing here falls back to `process.*` but `env`. */
export interface ProjectOptions {
  /** A spec file, or a directory to look in, relative to `root` (the CLI's `-f FILE`). */
  file?: string;
  /**
   * The environment the project reads (`DAGWRIGHT_STATE_URL`, `DAGWRIGHT_BRANCH`, `SCRATCH_DIR`,
   * ...) and its tasks get where it differs from this process's; default `process.env`. Rendered
   * values (`DAGWRIGHT_ENV_B64_<NAME>`) are decoded. A variable only this process has still
   * reaches tasks: launchers start from `process.env`.
   */
  env?: NodeJS.ProcessEnv;
  /** What a relative `SCRATCH_DIR` is relative to (default `root`). */
  cwd?: string;
  /** A spec already loaded and validated (the CLI's cached load); else it is loaded from `root`. */
  loaded?: LoadedSpec;
  /** The record of every file-system read and env variable consulted (the no-change memo's key). */
  reads?: FsReads;
  /** Lines for a human: branch inheritance, waiting on a lock, orphans stopped. Default: dropped. */
  notice?: (line: string) => void;
}

/**
 * Opens the project whose spec is found in `root` (`dagwright.yaml`, `kptn.yaml`, `dagwright.ts`,
 * or `options.file`): loads and validates the spec (unless given), opens its state store and
 * file-hash cache. Changes no process-wide state: two projects may be open in one process, each
 * with warm workers of its own for its function tasks.
 * Close it with {@link Project.close}.
 *
 * @throws SpecError with every problem when the spec is invalid (warnings go to
 *   {@link Project.diagnostics}); DagwrightError `E_USAGE`/`E_ENV` when no spec is found or the
 *   store cannot be opened.
 */
export async function openProject(root: string, options: ProjectOptions = {}): Promise<Project> {
  const reads = options.reads ?? new FsReads();
  let diagnostics: Diagnostic[] = [];
  let loaded = options.loaded;
  if (loaded === undefined) {
    // Imported here: the parser and its schema are the bulk of the code, and the CLI (which
    // passes a spec from its cache) must not load them on every command.
    const { loadCheckedSpec } = await import("../graph/check-spec.js");
    const checked = loadCheckedSpec({
      cwd: root,
      ...(options.file === undefined ? {} : { file: options.file }),
      files: reads,
    });
    diagnostics = checked.diagnostics;
    if (!checked.spec || diagnostics.some((d) => d.severity === "error"))
      throw new SpecError(diagnostics);
    loaded = { spec: checked.spec, graphs: checked.graphs };
  }
  const env = decodeRenderedEnv(options.env ?? process.env);
  const store = await openStore(loaded.spec.root, reads, env);
  const { cache, flush } = storeFileCache(store);
  const core: ProjectCore = {
    spec: loaded.spec,
    graphs: loaded.graphs,
    store,
    env,
    taskEnv: envOverrides(env, process.env),
    cwd: options.cwd ?? root,
    reads,
    fileCache: cache,
    pools: new WorkerPools(),
    notice: options.notice ?? (() => {}),
  };
  return new Project(core, flush, diagnostics);
}
