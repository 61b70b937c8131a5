import path from "node:path";
import type { FsReads } from "../fingerprint/fs-reads.js";
import { FsSnapshot } from "../fingerprint/fs-snapshot.js";
import type { FileHashCache } from "../fingerprint/hash-file.js";
import { runtimeVersions } from "../fingerprint/runtime-versions.js";
import { buildGraph } from "../graph/build-graph.js";
import type { Graph } from "../graph/graph.js";
import { type Selection, selectTasks } from "../graph/select-tasks.js";
import type { PlanContext } from "../plan/plan-task.js";
import { UsageError } from "../spec/errors.js";
import { resolveConfig } from "../spec/resolve-config.js";
import type { Spec, TaskKind } from "../spec/types.js";
import { type BranchInheritance, inheritBranchState } from "../state/inherit-branch-state.js";
import { currentBranch, namespaceFor } from "../state/namespace.js";
import type { StateStore } from "../state/state-store.js";
import { keepLogsOf, logDirOf } from "../tasks/attempt-logs.js";
import type { WorkerPools } from "../tasks/worker-pools.js";
import { withKptnDatabase } from "./kptn-database.js";

/** Which graph, which of its tasks, and which config layering a project call is about. */
export interface ScopeSelection extends Selection {
  /** The graph's name; optional when the spec has one graph. */
  graph?: string;
  /** `--env NAME`: merge `environments.NAME.config` over config. */
  configEnv?: string;
  /** `--set key=value` config overrides (dotted keys, JSON values). */
  set?: readonly string[];
}

/**
 * What a project has open, shared by every scope of it: the loaded spec and graphs, the store,
 * the environment it reads (never `process.env` directly), the record of file-system reads and
 * the file-hash cache. Scopes are cheap; this is what they are cut from.
 */
export interface ProjectCore {
  spec: Spec;
  /** Graphs checked when the spec was loaded (by name). */
  graphs: Readonly<Record<string, Graph>>;
  store: StateStore;
  env: Readonly<NodeJS.ProcessEnv>;
  /** What every task gets over the process environment its launcher starts from. */
  taskEnv: Readonly<Record<string, string>>;
  /** What relative paths the caller gave (`SCRATCH_DIR`) are relative to. */
  cwd: string;
  reads: FsReads;
  fileCache: FileHashCache;
  /** The project's warm workers for function tasks (stopped by `Project.close`). */
  pools: WorkerPools;
  /** One line for a human (branch inheritance, waiting on a lock); the CLI prints it on stderr. */
  notice: (line: string) => void;
}

/** One graph and selection of a project, resolved: everything a run, status or explain needs. */
export interface RunScope {
  spec: Spec;
  graph: Graph;
  /** Selected tasks, in topological order. */
  selected: string[];
  store: StateStore;
  branch: string;
  /**
   * The namespace the scope reads and writes: the branch's, or, for a read-only scope on a
   * branch without state, the parent's it shows (see `inherited`).
   */
  namespace: string;
  /** Set when the branch had no state and starts from (or, read-only, shows) its parent's. */
  inherited?: BranchInheritance;
  scratchDir: string;
  logDir: string;
  /** Attempt logs kept per task and item (`DAGWRIGHT_KEEP_LOGS`, `settings.keep_logs`, 5). */
  keepLogs: number;
  plan: PlanContext;
  /** The project's environment (rendered values decoded). */
  env: Readonly<NodeJS.ProcessEnv>;
  /** What every task gets over the process environment (see {@link ProjectCore.taskEnv}). */
  taskEnv: Readonly<Record<string, string>>;
  /** The project's warm workers for function tasks. */
  pools: WorkerPools;
}

/**
 * Resolves a graph, its selected tasks, config, branch, namespace and directories, and prepares
 * planning. Every environment variable consulted is read from `core.env` through `core.reads`.
 *
 * A branch without state of its own starts from its parent's (src/state/inherit-branch-state.ts):
 * with `mode: "copy"` (calls that record attempts) the parent's records are copied into the
 * branch's namespace; with `"show"` (read-only calls) nothing is written and the scope reads the
 * parent's namespace. Either way one notice says so.
 *
 * @throws DagwrightError `E_USAGE` for an unknown graph or task, a bad `DAGWRIGHT_KEEP_LOGS`.
 */
export async function openScope(
  core: ProjectCore,
  selection: ScopeSelection,
  mode: "copy" | "show",
): Promise<RunScope> {
  const { reads, env } = core;
  const graph = pickGraph(core, selection.graph);
  const selected = selectTasks(graph, selection);
  const config = resolveConfig(core.spec, graph.name, {
    ...(selection.configEnv !== undefined ? { env: selection.configEnv } : {}),
    ...(selection.set ? { set: [...selection.set] } : {}),
  });
  const spec = await withKptnDatabase(core.spec, graph, config, reads, env);
  const branch = currentBranch(spec.root, env);
  const cacheNamespace = spec.settings.cacheNamespace ?? graph.name;
  const inherited = await startBranch(core, cacheNamespace, branch, mode);
  const namespace =
    inherited && !inherited.copied ? inherited.fromNamespace : namespaceFor(cacheNamespace, branch);
  const scratchEnv = reads.env("SCRATCH_DIR", env);
  const scratchBase = scratchEnv
    ? path.resolve(core.cwd, scratchEnv)
    : path.join(spec.root, spec.settings.scratchDir);
  const scratchDir = path.join(scratchBase, cacheNamespace);
  let keepLogs: number;
  try {
    keepLogs = keepLogsOf(env.DAGWRIGHT_KEEP_LOGS, spec.settings.keepLogs);
  } catch (err) {
    throw new UsageError((err as Error).message, "e.g. DAGWRIGHT_KEEP_LOGS=10");
  }
  const kinds = new Set<TaskKind>(selected.map((t) => graph.tasks[t]!.spec.kind));
  reads.env("PATH", env); // runtime versions are those of the interpreters PATH finds
  const plan: PlanContext = {
    spec,
    graph,
    config,
    outputsDir: spec.outputsBase === "scratch" ? scratchDir : spec.root,
    fileCache: core.fileCache,
    runtime: await runtimeVersions(kinds),
    codeSnapshot: new FsSnapshot(spec.root, reads),
    reads,
  };
  return {
    spec,
    graph,
    selected,
    store: core.store,
    branch,
    namespace,
    ...(inherited ? { inherited } : {}),
    scratchDir,
    logDir: logDirOf(spec.root, namespace),
    keepLogs,
    plan,
    env,
    taskEnv: core.taskEnv,
    pools: core.pools,
  };
}

/** The named graph (or the only one), as checked at load; built here for its error messages. */
function pickGraph(core: ProjectCore, name: string | undefined): Graph {
  const names = Object.keys(core.spec.graphs);
  const chosen = name ?? (names.length === 1 ? names[0] : undefined);
  const checked = chosen === undefined ? undefined : core.graphs[chosen];
  return checked ?? buildGraph(core.spec, name);
}

/**
 * A branch without state starts from its parent's (copied, or shown read-only), with one notice.
 * The parent: `DAGWRIGHT_BASE_BRANCH`, else `settings.base_branch`, else main or master.
 */
async function startBranch(
  core: ProjectCore,
  cacheNamespace: string,
  branch: string,
  mode: "copy" | "show",
): Promise<BranchInheritance | undefined> {
  const { spec, reads, env, notice } = core;
  const base = reads.env("DAGWRIGHT_BASE_BRANCH", env)?.trim() || spec.settings.baseBranch;
  const inherited = await inheritBranchState(core.store, {
    cacheNamespace,
    branch,
    ...(base === undefined ? {} : { base }),
    mode,
    holder: { command: `dagwright: starting branch ${branch} from its parent's state` },
    onWait: (h) =>
      notice(`waiting: ${namespaceFor(cacheNamespace, branch)} is locked by \`${h.command}\``),
  });
  if (inherited === undefined) return undefined;
  const records = `${inherited.records} task record${inherited.records === 1 ? "" : "s"}`;
  notice(
    inherited.copied
      ? `branch ${branch} has no state yet: starting from ${inherited.from}'s (${records})`
      : `branch ${branch} has no state yet: showing ${inherited.from}'s (${records}), which its first run starts from`,
  );
  return inherited;
}
