/**
 * The no-change memo: make's "nothing to be done" without planning.
 *
 * A `dagwright run` that found every selected task fresh writes `.dagwright/cache/no-change.json`,
 * keyed on exactly what its decisions read (see docs/running.md, "What change detection depends
 * on"): the command (argv, working directory, Node and dagwright builds), the environment
 * variables loading and planning consulted (recorded in the run's `FsReads`, plus every
 * `DAGWRIGHT_*` variable and PATH), every file-system read of loading and planning with the
 * metadata it saw (src/fingerprint/fs-reads.ts), the branch, the runtime versions and the state
 * store's version number for the namespace, which every write to task state increments. The next
 * `dagwright run` with the same command loads only this module (not the CLI), re-stats those paths
 * and re-reads those facts; when every one is unchanged, planning would find every task fresh
 * again, so it records the run and prints the same events without planning. Anything different
 * and the normal path runs, as if there were no memo. Other environment variables do not matter.
 *
 * Like the planner's own file-hash cache, this trusts size + mtime (+ ctime + inode). A memo whose
 * files were modified in the same clock tick as the memo itself is not kept (git's "racily
 * clean" rule). `DAGWRIGHT_NO_CHANGE_MEMO=0` turns the memo off.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { RunCounts, RunEvent, RunObserver } from "../exec/run-events.js";
import { type FsReads, type RecordedRead, readsStillHold } from "../fingerprint/fs-reads.js";
import { runtimeVersions } from "../fingerprint/runtime-versions.js";
import type { TaskKind } from "../spec/types.js";
import { currentBranch } from "../state/namespace.js";
import { openSqliteStore, type SqliteStateStore } from "../state/sqlite-store.js";
import { EXIT } from "./context.js";
import { leaveStoresForExit } from "./exit.js";
import { type Output, paint, processOutput } from "./output.js";
import { buildSignature } from "./package-files.js";
import { humanObserver, jsonObserver } from "./progress.js";
import { writeShortcutFile } from "./shortcut-file.js";

const MEMO_VERSION = 2;

/** The runtimes whose versions each run probes (runtime-versions.ts), by the kind using them. */
const PROBED_RUNTIMES: Record<string, TaskKind> = { python3: "python", Rscript: "r" };

type RunStart = Extract<RunEvent, { type: "run-start" }>;

interface Memo {
  version: number;
  key: string;
  /** The SQLite state file the run used. */
  store: string;
  root: string;
  branch: string;
  command: string;
  runStart: Omit<RunStart, "runId">;
  json: boolean;
  /** Events between run-start and run-end, replayed as they were. */
  events: RunEvent[];
  counts: RunCounts;
  stateSignature: string;
  runtime: Record<string, string>;
  /** The environment variables the memo rests on, with their values (null: unset). */
  env: [string, string | null][];
  /** [absolute path, signatureOf(stat)] */
  files: RecordedRead[];
}

/** For bin/dagwright.cjs, once tryNoChangeRun() answered. */
export { commandEndsProcess, exitIfDone } from "./exit.js";

/** Where the memo of runs started in `cwd` lives. */
export function memoPath(cwd: string): string {
  return path.join(cwd, ".dagwright", "cache", "no-change.json");
}

/** Identifies the command: arguments, directory, and the Node and dagwright builds. */
function memoKey(argv: readonly string[], cwd: string): string {
  return createHash("sha256")
    .update(
      JSON.stringify([
        MEMO_VERSION,
        argv,
        cwd,
        process.version,
        process.execPath,
        buildSignature(),
      ]),
    )
    .digest("hex");
}

/** dagwright's own variables (any of them may steer a run) and PATH (which runtimes run). */
function alwaysConsulted(name: string): boolean {
  return name.startsWith("DAGWRIGHT_") || name === "PATH";
}

/**
 * The variables a memo rests on, sorted, with their values in `env` (null: unset): those the run
 * consulted (`consulted`) and every {@link alwaysConsulted} one set in `env`.
 */
function memoEnv(consulted: Iterable<string>, env: NodeJS.ProcessEnv): [string, string | null][] {
  const names = new Set(consulted);
  for (const k of Object.keys(env)) if (alwaysConsulted(k)) names.add(k);
  names.add("PATH");
  return [...names].sort().map((k) => [k, env[k] ?? null]);
}

/** The runtime versions to probe again: those the memo recorded, except Node (this process). */
async function runtimesChanged(recorded: Record<string, string>): Promise<boolean> {
  const kinds = new Set<TaskKind>();
  for (const name of Object.keys(recorded)) {
    const kind = PROBED_RUNTIMES[name];
    if (kind !== undefined) kinds.add(kind);
  }
  if (kinds.size === 0) return false;
  const now = await runtimeVersions(kinds);
  return Object.keys(now).some((k) => now[k] !== recorded[k]);
}

/**
 * Runs `argv` (a `run` command) from the memo when nothing it rests on changed: records the run,
 * prints what the last run printed, and resolves to the exit code. Resolves to undefined, having
 * done nothing visible, whenever the normal path must run instead.
 */
export async function tryNoChangeRun(
  argv: readonly string[],
  o: Output = processOutput(argv),
): Promise<number | undefined> {
  const started = performance.now();
  if (process.env.DAGWRIGHT_NO_CHANGE_MEMO === "0") return undefined;
  const cwd = process.cwd();
  let memo: Memo;
  try {
    memo = JSON.parse(readFileSync(memoPath(cwd), "utf8")) as Memo;
  } catch {
    return undefined;
  }
  if (memo.version !== MEMO_VERSION || memo.key !== memoKey(argv, cwd)) return undefined;
  const env = memoEnv(
    memo.env.map(([k]) => k),
    process.env,
  );
  if (JSON.stringify(env) !== JSON.stringify(memo.env)) return undefined;
  if (!readsStillHold(memo.files)) return undefined;
  if (currentBranch(memo.root) !== memo.branch) return undefined;
  if (await runtimesChanged(memo.runtime)) return undefined;
  let store: SqliteStateStore;
  try {
    store = openSqliteStore(memo.store);
  } catch {
    return undefined; // the normal path reports it
  }
  let printed = false;
  try {
    const namespace = memo.runStart.namespace;
    // A run in progress holds the lock: the normal path waits for it, and so must this one.
    if (store.lockHolder(namespace) !== undefined) return undefined;
    if (store.stateSignature(namespace) !== memo.stateSignature) return undefined;
    const runId = await store.beginRun({
      namespace,
      graph: memo.runStart.graph,
      branch: memo.branch,
      command: memo.command,
    });
    const observer: RunObserver = memo.json
      ? jsonObserver(o)
      : humanObserver(o, o.color && Boolean(process.stderr.isTTY));
    printed = true;
    // The memo's events are replayed as this run's: stamped now.
    const time = new Date().toISOString();
    observer({ ...memo.runStart, type: "run-start", runId, time });
    for (const e of memo.events) observer({ ...e, time });
    observer({
      type: "run-end",
      status: "succeeded",
      counts: memo.counts,
      durationMs: Math.round(performance.now() - started),
      nothingChanged: true,
      time: new Date().toISOString(),
    });
    await store.endRun(runId, "succeeded");
    return 0;
  } catch (error) {
    // Before anything was printed the normal path can still run, and reports the problem itself.
    if (!printed) return undefined;
    o.err(`${paint(o.color, "red", "error")}: ${(error as Error).message}\n`);
    return EXIT.environment;
  } finally {
    // Answered: the process ends next (exitIfDone). Else the normal path runs in this process.
    await store.close({ leaveForExit: printed && leaveStoresForExit() });
  }
}

/** What the run knows once it ended, for {@link NoChangeRecorder.finish}. */
export interface RunFacts {
  store: SqliteStateStore;
  root: string;
  branch: string;
  command: string;
  json: boolean;
  runtime: Record<string, string>;
  /** `store.stateSignature(namespace)` taken under the run lock, before planning. */
  stateBefore: string;
}

/**
 * Watches one `dagwright run` on the normal path: what planning stat'ed and which events it
 * emitted. {@link finish} writes the memo when every selected task was fresh.
 */
export class NoChangeRecorder {
  private readonly events: RunEvent[] = [];
  private runStart: RunStart | undefined;
  private runEnd: Extract<RunEvent, { type: "run-end" }> | undefined;
  private onlyFresh = true;

  /** `reads`: the run's record of reads; pass it to loading and planning. */
  constructor(
    private readonly argv: readonly string[],
    private readonly cwd: string,
    private readonly reads: FsReads,
  ) {}

  /** `observer`, also noting each event. */
  tap(observer: RunObserver): RunObserver {
    return (e) => {
      this.note(e);
      observer(e);
    };
  }

  private note(e: RunEvent): void {
    if (e.type === "run-start") this.runStart = e;
    else if (e.type === "run-end") this.runEnd = e;
    else if (e.type === "task-fresh" || (e.type === "task-items" && e.toRun === 0))
      this.events.push(e);
    else this.onlyFresh = false;
  }

  /**
   * When the run succeeded with every task fresh and nothing it read changed meanwhile, writes the
   * memo (atomically). Never throws: the memo is only an optimisation.
   */
  finish(facts: RunFacts): void {
    try {
      const start = this.runStart;
      const end = this.runEnd;
      if (this.reads.unusable || !this.onlyFresh) return;
      if (start === undefined || end === undefined || end.status !== "succeeded") return;
      if (facts.root !== this.cwd) return; // the memo is looked up in the working directory
      if (facts.store.stateSignature(start.namespace) !== facts.stateBefore) return;
      const { runId: _, ...runStart } = start;
      const memo: Memo = {
        version: MEMO_VERSION,
        key: memoKey(this.argv, this.cwd),
        store: facts.store.file,
        root: facts.root,
        branch: facts.branch,
        command: facts.command,
        runStart,
        json: facts.json,
        events: this.events,
        counts: end.counts,
        stateSignature: facts.stateBefore,
        runtime: facts.runtime,
        env: memoEnv(
          this.reads.envReads().map(([k]) => k),
          process.env,
        ),
        files: this.reads.reads(),
      };
      writeShortcutFile(memoPath(this.cwd), JSON.stringify(memo), memo.files);
    } catch {
      // read-only project, full disk: runs stay correct, just not faster
    }
  }
}
