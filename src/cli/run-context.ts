import { mkdirSync } from "node:fs";
import path from "node:path";
import { FsReads } from "../fingerprint/fs-reads.js";
import { FsSnapshot } from "../fingerprint/fs-snapshot.js";
import type { FileHash, FileHashCache } from "../fingerprint/hash-file.js";
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
import { openSqliteStore } from "../state/sqlite-store.js";
import type { StateStore } from "../state/state-store.js";
import { parseStateUrl } from "../state/state-url.js";
import { keepLogsOf, logDirOf } from "../tasks/attempt-logs.js";
import type { CommandContext } from "./context.js";
import { loadForCommand } from "./load.js";

/** Flags shared by `run`, `status` and `explain`. */
export interface RunFlags extends Selection {
  env?: string;
  set?: string[];
}

/** Everything a command that reads or writes state needs, opened once. */
export interface RunContext {
  spec: Spec;
  graph: Graph;
  selected: string[];
  store: StateStore;
  branch: string;
  /**
   * The namespace the command reads and writes: the branch's, or, for a read-only command on a
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
  /** Writes file hashes gathered during the command back to the store's cache. */
  flushFileCache: () => void;
}

/**
 * Opens the state store named by `DAGWRIGHT_STATE_URL` (parsed by {@link parseStateUrl}):
 * `postgres://...` (PostgreSQL, for teams and rendered targets; the driver is loaded only then), a
 * SQLite path or `sqlite:PATH`; else `<root>/.dagwright/state.db`.
 *
 * @throws DagwrightError `E_USAGE` for an unsupported scheme (nothing is created), `E_ENV` when the
 *   store cannot be opened.
 */
export async function openStore(root: string, reads: FsReads = new FsReads()): Promise<StateStore> {
  const url = reads.env("DAGWRIGHT_STATE_URL", process.env);
  if (url !== undefined && url !== "") {
    const location = parseStateUrl(url, root);
    if (location.kind === "postgres") {
      const { openPostgresStore } = await import("../state/postgres-store.js");
      return openPostgresStore(location.url);
    }
    return openSqliteStore(location.file);
  }
  const dir = path.join(root, ".dagwright");
  mkdirSync(dir, { recursive: true });
  return openSqliteStore(path.join(dir, "state.db"));
}

/** A file hash cache over the store: reads hit SQLite, writes are batched and flushed once. */
function storeFileCache(store: StateStore): { cache: FileHashCache; flush: () => void } {
  const pending = new Map<string, FileHash>();
  return {
    cache: {
      get: (p) => pending.get(p) ?? store.getFileHash(p),
      put: (p, h) => {
        pending.set(p, h);
      },
    },
    flush: () => {
      if (pending.size === 0) return;
      store.putFileHashes([...pending].map(([p, h]) => ({ path: p, ...h })));
      pending.clear();
    },
  };
}

/**
 * Rendered manifests carry env values that Argo would otherwise evaluate (`{{...}}`) as
 * `DAGWRIGHT_ENV_B64_<NAME>` (base64 of UTF-8); decode them into `<NAME>` for the tasks.
 */
export function decodeRenderedEnv(env: NodeJS.ProcessEnv = process.env): void {
  const prefix = "DAGWRIGHT_ENV_B64_";
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith(prefix) || v === undefined || k.length === prefix.length) continue;
    env[k.slice(prefix.length)] = Buffer.from(v, "base64").toString("utf8");
    delete env[k];
  }
}

/**
 * Loads the spec and graph, resolves config, opens the store and prepares planning. Every
 * file-system read and environment variable loading and planning consult is recorded in `reads`.
 *
 * A branch without state of its own starts from its parent's (src/state/inherit-branch-state.ts):
 * with `mode: "copy"` (commands that record attempts) the parent's records are copied
 * into the branch's namespace; with `"show"` (read-only commands) nothing is written and the
 * context reads the parent's namespace. Either way one line on stderr says so.
 */
export async function openRunContext(
  ctx: CommandContext,
  graphName: string | undefined,
  flags: RunFlags,
  reads: FsReads = new FsReads(),
  mode: "copy" | "show" = "show",
): Promise<RunContext> {
  decodeRenderedEnv();
  const { spec, graphs } = await loadForCommand(ctx, { cache: true, reads });
  // buildGraph for the error messages (unknown graph, several graphs); the check is cached.
  const names = Object.keys(spec.graphs);
  const chosen = graphName ?? (names.length === 1 ? names[0] : undefined);
  const graph =
    chosen !== undefined && graphs[chosen] ? graphs[chosen]! : buildGraph(spec, graphName);
  const selected = selectTasks(graph, flags);
  const config = resolveConfig(spec, graph.name, {
    ...(flags.env !== undefined ? { env: flags.env } : {}),
    ...(flags.set ? { set: flags.set } : {}),
  });
  const store = await openStore(spec.root, reads);
  const branch = currentBranch(spec.root);
  const cacheNamespace = spec.settings.cacheNamespace ?? graph.name;
  const inherited = await startBranch(ctx, store, { spec, reads, cacheNamespace, branch }, mode);
  const namespace =
    inherited && !inherited.copied ? inherited.fromNamespace : namespaceFor(cacheNamespace, branch);
  const scratchEnv = reads.env("SCRATCH_DIR", process.env);
  const scratchBase = scratchEnv
    ? path.resolve(scratchEnv)
    : path.join(spec.root, spec.settings.scratchDir);
  const scratchDir = path.join(scratchBase, cacheNamespace);
  const logDir = logDirOf(spec.root, namespace);
  let keepLogs: number;
  try {
    keepLogs = keepLogsOf(process.env.DAGWRIGHT_KEEP_LOGS, spec.settings.keepLogs);
  } catch (err) {
    throw new UsageError((err as Error).message, "e.g. DAGWRIGHT_KEEP_LOGS=10");
  }
  const kinds = new Set<TaskKind>(selected.map((t) => graph.tasks[t]!.spec.kind));
  const { cache, flush } = storeFileCache(store);
  reads.env("PATH", process.env); // runtime versions are those of the interpreters PATH finds
  const plan: PlanContext = {
    spec,
    graph,
    config,
    outputsDir: spec.outputsBase === "scratch" ? scratchDir : spec.root,
    fileCache: cache,
    runtime: await runtimeVersions(kinds),
    codeSnapshot: new FsSnapshot(spec.root, reads),
    reads,
  };
  return {
    spec,
    graph,
    selected,
    store,
    branch,
    namespace,
    ...(inherited ? { inherited } : {}),
    scratchDir,
    logDir,
    keepLogs,
    plan,
    flushFileCache: flush,
  };
}

/**
 * A branch without state starts from its parent's (copied, or shown read-only), with one line on
 * stderr. The parent: `DAGWRIGHT_BASE_BRANCH`, else `settings.base_branch`, else main or master.
 */
async function startBranch(
  ctx: CommandContext,
  store: StateStore,
  at: { spec: Spec; reads: FsReads; cacheNamespace: string; branch: string },
  mode: "copy" | "show",
): Promise<BranchInheritance | undefined> {
  const { spec, reads, cacheNamespace, branch } = at;
  const base = reads.env("DAGWRIGHT_BASE_BRANCH", process.env)?.trim() || spec.settings.baseBranch;
  const inherited = await inheritBranchState(store, {
    cacheNamespace,
    branch,
    ...(base === undefined ? {} : { base }),
    mode,
    holder: { command: `dagwright: starting branch ${branch} from its parent's state` },
    onWait: (h) =>
      ctx.o.err(`waiting: ${namespaceFor(cacheNamespace, branch)} is locked by \`${h.command}\`\n`),
  });
  if (inherited === undefined) return undefined;
  const records = `${inherited.records} task record${inherited.records === 1 ? "" : "s"}`;
  ctx.o.err(
    inherited.copied
      ? `branch ${branch} has no state yet: starting from ${inherited.from}'s (${records})\n`
      : `branch ${branch} has no state yet: showing ${inherited.from}'s (${records}), which its first run starts from\n`,
  );
  return inherited;
}
