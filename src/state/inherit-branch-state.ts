import { namespaceFor } from "./namespace.js";
import type { LockHolder, StateStore } from "./state-store.js";

/** The base that turns inheritance off (`DAGWRIGHT_BASE_BRANCH=none`, `base_branch: none`). */
export const NO_BASE_BRANCH = "none";

/** The parents tried, in order, when none is configured. */
export const DEFAULT_BASE_BRANCHES: readonly string[] = ["main", "master"];

/** What a branch without state of its own starts from: the line the CLI prints says this. */
export interface BranchInheritance {
  /** The parent branch. */
  from: string;
  /** The parent's namespace; read-only commands read it in place of the branch's. */
  fromNamespace: string;
  /** Task records (tasks, and items of fan-outs) copied, or that the first run would copy. */
  records: number;
  /** True when copied into the branch's namespace; false when only shown (`mode: "show"`). */
  copied: boolean;
}

/** How {@link inheritBranchState} picks the parent and what it may do. */
export interface InheritOptions {
  /** The spec's cache namespace (the part before `@`). */
  cacheNamespace: string;
  /** The current branch. */
  branch: string;
  /**
   * The configured parent (`DAGWRIGHT_BASE_BRANCH`, else `settings.base_branch`), or
   * {@link NO_BASE_BRANCH}. Undefined: the first of {@link DEFAULT_BASE_BRANCHES} with state.
   */
  base?: string;
  /** "copy": copy under the branch's lock (commands that write); "show": only say (read-only). */
  mode: "copy" | "show";
  /** Who takes the branch's lock for the copy, for "locked by" messages. */
  holder: { command: string };
  /** Called once if the copy waits for the branch's lock. */
  onWait?: (h: LockHolder) => void;
}

/**
 * Starts a branch that has no state of its own (no task record in its namespace) from its
 * parent's: the configured base branch, else the first of main and master that has state in this
 * cache namespace; never the branch itself. With `mode: "copy"` the parent's records are copied
 * into the branch's namespace by `copyNamespace`, under the branch's lock (waited for), so of two
 * runners starting the branch at once one copies and the other finds state. With `mode: "show"`
 * nothing is written.
 *
 * Resolves to undefined, having written nothing, when the branch has state, inheritance is off,
 * no parent has state, or another runner copied first. Rejects like the store's methods.
 */
export async function inheritBranchState(
  store: StateStore,
  opts: InheritOptions,
): Promise<BranchInheritance | undefined> {
  if (opts.base === NO_BASE_BRANCH) return undefined;
  const to = namespaceFor(opts.cacheNamespace, opts.branch);
  if ((await store.countTaskRecords(to, 1)) > 0) return undefined;
  const from = await parentWithState(store, opts);
  if (from === undefined) return undefined;
  const fromNamespace = namespaceFor(opts.cacheNamespace, from);
  if (opts.mode === "show") {
    const records = await store.countTaskRecords(fromNamespace);
    return { from, fromNamespace, records, copied: false };
  }
  const lock = await store.acquireLock(to, opts.holder, {
    wait: true,
    ...(opts.onWait ? { onWait: opts.onWait } : {}),
  });
  if (!lock.acquired) return undefined;
  let records: number;
  try {
    records = await store.copyNamespace(fromNamespace, to, lock.token);
  } finally {
    await lock.release();
  }
  return records > 0 ? { from, fromNamespace, records, copied: true } : undefined;
}

/** The configured base, or the first default one, that is not the branch and has state. */
async function parentWithState(
  store: StateStore,
  opts: InheritOptions,
): Promise<string | undefined> {
  const candidates = opts.base !== undefined ? [opts.base] : DEFAULT_BASE_BRANCHES;
  for (const candidate of candidates) {
    if (candidate === opts.branch) continue;
    if ((await store.countTaskRecords(namespaceFor(opts.cacheNamespace, candidate), 1)) > 0)
      return candidate;
  }
  return undefined;
}
