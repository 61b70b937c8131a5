import path from "node:path";
import { type ConfigKeys, configKeysOf } from "../fingerprint/config-keys.js";
import {
  hashDuckdbTables,
  isDuckdbOutput,
  type TableHash,
} from "../fingerprint/duckdb-table-hash.js";
import { expandPatterns } from "../fingerprint/expand-patterns.js";
import { findCodeFiles, findPythonFunctionCode } from "../fingerprint/find-code-files.js";
import {
  describeChange,
  diffParts,
  type FingerprintParts,
  partsCanonicalJson,
  type UpstreamPart,
} from "../fingerprint/fingerprint.js";
import type { FsReads } from "../fingerprint/fs-reads.js";
import { FsSnapshot } from "../fingerprint/fs-snapshot.js";
import { type FileHashCache, hashFile } from "../fingerprint/hash-file.js";
import { hashFiles } from "../fingerprint/hash-files.js";
import { hashString } from "../fingerprint/hash-string.js";
import { hashValue } from "../fingerprint/hash-value.js";
import type { Graph, GraphTask } from "../graph/graph.js";
import { projectDatabasePath } from "../spec/duckdb-database.js";
import type { Spec } from "../spec/types.js";
import type { OutputRecord, TaskRunRecord } from "../state/state-store.js";

/**
 * What an upstream task contributes to a downstream fingerprint: its outputs, its result, and for
 * a mapped task its item keys (sorted; see {@link upstreamStateOf}).
 */
export interface UpstreamState {
  outputs: readonly OutputRecord[];
  resultHash?: string;
  items?: readonly string[];
}

/** Everything planning one task needs; shared by every task of a run. */
export interface PlanContext {
  spec: Spec;
  graph: Graph;
  config: Record<string, unknown>;
  /** Absolute directory `outputs` are relative to (project root, or the scratch dir for kptn). */
  outputsDir: string;
  fileCache: FileHashCache;
  /** Runtime versions by kind (`runtimeVersions`), computed once per run. */
  runtime: Record<string, string>;
  /**
   * One view of the project's code files for the whole pass, so shared helpers are resolved once.
   * Used for code only: inputs and outputs may be written by upstream tasks during the run.
   */
  codeSnapshot?: FsSnapshot;
  /**
   * The record of every file-system read of this pass (the spec cache and no-change memo are
   * keyed on it). Every stat and hash planning makes goes through it; absent: nothing records.
   */
  reads?: FsReads;
}

/** Why a task runs or is fresh. `run` carries every reason found, most important first. */
export interface TaskDecision {
  task: string;
  action: "run" | "fresh";
  reasons: string[];
  fingerprint: string;
  parts: FingerprintParts;
  /** `parts` as JSON, when the planner already built it (items of a fan-out). */
  partsJson?: string;
}

/** The fields of a task's definition that change what it does (env is its own part). */
function definitionOf(task: GraphTask): unknown {
  const s = task.spec;
  return {
    kind: s.kind,
    file: s.file,
    function: s.function,
    command: s.command,
    outputs: s.outputs,
    cacheResult: s.cacheResult,
    iterableItem: s.iterableItem,
    mapOver: s.mapOver,
    prefixArgs: s.prefixArgs,
    cliArgs: s.cliArgs,
  };
}

/** Per config object (one per pass): each top-level key's value hash, and parts by key list. */
interface ConfigParts {
  hashes: Map<string, string>;
  parts: Map<string, Readonly<Record<string, string>>>;
}

const configParts = new WeakMap<object, ConfigParts>();

/**
 * The config part of a task that receives `keys` (or the whole config): key → hash of its value,
 * for the keys the config has. Frozen and shared by every task with the same keys in a pass.
 */
function configPart(
  config: Record<string, unknown>,
  keys: ConfigKeys,
): Readonly<Record<string, string>> {
  let c = configParts.get(config);
  if (c === undefined) {
    c = { hashes: new Map(), parts: new Map() };
    configParts.set(config, c);
  }
  const id = keys === "all" ? "\0all" : keys.join("\0");
  let part = c.parts.get(id);
  if (part === undefined) {
    const out: Record<string, string> = {};
    for (const k of keys === "all" ? Object.keys(config) : keys) {
      if (!Object.hasOwn(config, k)) continue;
      let h = c.hashes.get(k);
      if (h === undefined) {
        h = hashValue(config[k] ?? null);
        c.hashes.set(k, h);
      }
      out[k] = h;
    }
    part = Object.freeze(out);
    c.parts.set(id, part);
  }
  return part;
}

/** A task's parts that depend on its definition alone (spec and args objects are never mutated). */
interface StaticHashes {
  spec: object;
  args: object;
  definition: string;
  argsHash: string;
  /** Declared variable → hash of its value; frozen (shared with every fingerprint of the task). */
  env: Readonly<Record<string, string>>;
}

const staticHashes = new WeakMap<GraphTask, StaticHashes>();

/**
 * Definitions by their JSON text: tasks of one graph mostly share one, so each distinct one is
 * canonicalized and hashed once. A definition is schema-checked data (strings, booleans, arrays
 * and records of them), for which equal JSON texts are equal values.
 */
const definitionHashes = new Map<string, string>();

function definitionHash(task: GraphTask): string {
  const definition = definitionOf(task);
  const json = JSON.stringify(definition);
  let h = definitionHashes.get(json);
  if (h === undefined) {
    h = hashValue(definition);
    if (definitionHashes.size >= 10_000) definitionHashes.clear();
    definitionHashes.set(json, h);
  }
  return h;
}

let emptyHash: string | undefined;

/** hashValue, answered at once for `{}` (the args and env of most tasks). */
function hashRecord(value: Record<string, unknown>): string {
  if (Object.getPrototypeOf(value) === Object.prototype && Object.keys(value).length === 0) {
    emptyHash ??= hashValue({});
    return emptyHash;
  }
  return hashValue(value);
}

const noEnv: Readonly<Record<string, string>> = Object.freeze({});

/** Declared variable → hash of its value (`env changed: TZ` names the variable). */
function envPart(env: Record<string, string>): Readonly<Record<string, string>> {
  const names = Object.keys(env);
  if (names.length === 0) return noEnv;
  return Object.freeze(Object.fromEntries(names.map((n) => [n, hashValue(env[n])])));
}

/** definition, args and env hashes of a task, computed once per task object. */
function staticHashesOf(task: GraphTask): StaticHashes {
  let h = staticHashes.get(task);
  if (h === undefined || h.spec !== task.spec || h.args !== task.args) {
    h = {
      spec: task.spec,
      args: task.args,
      definition: definitionHash(task),
      argsHash: hashRecord(task.args),
      env: envPart(task.spec.env),
    };
    staticHashes.set(task, h);
  }
  return h;
}

/** A task's code files and their hashes, for one pass (one code snapshot); shared, never mutated. */
interface CodePart {
  files: string[];
  code: Readonly<Record<string, string>>;
}

/**
 * Code parts per snapshot: a snapshot is one consistent look at the project's code for a pass, so
 * tasks sharing a file (and its imports) resolve and hash it once, however many they are. Kept
 * by what decides them (kind, file or command, and the settings' code directories) both as a
 * promise and, once known, as the value (so later tasks get it without waiting).
 */
interface CodeParts {
  pending: Map<string, Promise<CodePart>>;
  known: Map<string, CodePart>;
}

const codeParts = new WeakMap<FsSnapshot, WeakMap<object, CodeParts>>();

function codeKey(task: GraphTask): string {
  const s = task.spec;
  // A Python function task's code is its function's closure, not the whole file.
  if (s.kind === "python")
    return `${s.kind}\0${s.file ?? ""}\0${s.function ?? s.name}\0${s.functionExplicit}`;
  // A command's declared outputs and inputs decide which of its words may be its program.
  return s.command === undefined
    ? `${s.kind}\0${s.file ?? ""}`
    : JSON.stringify([s.kind, s.file ?? null, s.command, s.outputs, s.inputs]);
}

async function computeCodePart(ctx: PlanContext, task: GraphTask): Promise<CodePart> {
  const root = ctx.spec.root;
  const fn = findPythonFunctionCode(root, task.spec, ctx.spec.settings, ctx.codeSnapshot);
  const files =
    fn?.files ??
    (await findCodeFiles(root, task.spec, ctx.spec.settings, ctx.codeSnapshot, ctx.outputsDir));
  const hashes = await hashFiles(
    files.map((f) => path.join(root, f)),
    ctx.fileCache,
    ctx.reads,
  );
  return {
    files,
    // Frozen: shared by the tasks of the pass, and partsCanonicalJson writes it once.
    code: Object.freeze({
      ...fn?.pieces,
      ...Object.fromEntries(
        files.map((f) => [f, hashes.get(path.join(root, f))?.hash ?? "missing"]),
      ),
    }),
  };
}

/** The task's code part: at once when this pass already has it, else a promise of it. */
function codePartOf(ctx: PlanContext, task: GraphTask): CodePart | Promise<CodePart> {
  const snapshot = ctx.codeSnapshot;
  if (snapshot === undefined) return computeCodePart(ctx, task);
  let bySettings = codeParts.get(snapshot);
  if (bySettings === undefined) {
    bySettings = new WeakMap();
    codeParts.set(snapshot, bySettings);
  }
  // The settings name the code directories imports resolve in (one object per spec).
  let parts = bySettings.get(ctx.spec.settings);
  if (parts === undefined) {
    parts = { pending: new Map(), known: new Map() };
    bySettings.set(ctx.spec.settings, parts);
  }
  const key = codeKey(task);
  const known = parts.known.get(key);
  if (known !== undefined) return known;
  const { pending, known: done } = parts;
  let p = pending.get(key);
  if (p === undefined) {
    p = computeCodePart(ctx, task).then(
      (c) => {
        done.set(key, c);
        pending.delete(key);
        return c;
      },
      (err: unknown) => {
        // A failure (an unreadable file) is not remembered: the next task tries again.
        pending.delete(key);
        throw err;
      },
    );
    pending.set(key, p);
  }
  return p;
}

const runtimeParts = new WeakMap<Record<string, string>, Map<string, Record<string, string>>>();

/** `{ [key]: version }` for the pass's runtimes, one shared object per key (never mutated). */
function runtimePart(ctx: PlanContext, key: string | undefined): Record<string, string> {
  if (key === undefined || ctx.runtime[key] === undefined) return {};
  let byKey = runtimeParts.get(ctx.runtime);
  if (byKey === undefined) {
    byKey = new Map();
    runtimeParts.set(ctx.runtime, byKey);
  }
  let part = byKey.get(key);
  if (part === undefined) {
    part = Object.freeze({ [key]: ctx.runtime[key]! });
    byKey.set(key, part);
  }
  return part;
}

const outputsHashes = new WeakMap<readonly OutputRecord[], string>();
let noOutputsHash: string | undefined;

/** Hash of an upstream task's recorded outputs, as one value. */
export function outputsHash(outputs: readonly OutputRecord[]): string {
  if (outputs.length === 0) {
    noOutputsHash ??= hashValue([]);
    return noOutputsHash;
  }
  let h = outputsHashes.get(outputs);
  if (h === undefined) {
    h = hashValue(outputs.map((o) => [o.path, o.hash]));
    outputsHashes.set(outputs, h);
  }
  return h;
}

const RUNTIME_KEYS: Partial<Record<GraphTask["spec"]["kind"], string>> = {
  python: "python3",
  r: "Rscript",
  node: "node",
};

/**
 * Computes the fingerprint parts of `task` now: its definition, code (its file and the local files
 * it imports or sources), args, config, env, declared inputs, upstream outputs/results, runtimes.
 */
export async function fingerprintTask(
  ctx: PlanContext,
  task: GraphTask,
  upstream: ReadonlyMap<string, UpstreamState | undefined>,
): Promise<FingerprintParts> {
  const root = ctx.spec.root;
  const known = codePartOf(ctx, task);
  const { code } = known instanceof Promise ? await known : known;
  let inputs: Record<string, string> = {};
  if (task.spec.inputs.length > 0) {
    // A snapshot of its own (inputs may be written by upstream tasks during the run), over
    // the pass's record of reads.
    const inputFiles = await expandPatterns(
      root,
      task.spec.inputs,
      {},
      new FsSnapshot(root, ctx.reads),
    );
    const hashes = await hashFiles(
      inputFiles.map((f) => path.join(root, f)),
      ctx.fileCache,
      ctx.reads,
    );
    inputs = Object.fromEntries(
      inputFiles.map((f) => [f, hashes.get(path.join(root, f))?.hash ?? "missing"]),
    );
  }
  return partsOf(ctx, task, upstream, code, inputs);
}

/**
 * {@link fingerprintTask} at once, when it needs no file read (the pass already hashed the task's
 * code and it declares no inputs); undefined otherwise. The same parts either way.
 */
export function fingerprintTaskNow(
  ctx: PlanContext,
  task: GraphTask,
  upstream: ReadonlyMap<string, UpstreamState | undefined>,
): FingerprintParts | undefined {
  if (task.spec.inputs.length > 0) return undefined;
  const known = codePartOf(ctx, task);
  if (known instanceof Promise) return undefined;
  return partsOf(ctx, task, upstream, known.code, {});
}

function partsOf(
  ctx: PlanContext,
  task: GraphTask,
  upstream: ReadonlyMap<string, UpstreamState | undefined>,
  code: Readonly<Record<string, string>>,
  inputs: Record<string, string>,
): FingerprintParts {
  const up: FingerprintParts["upstream"] = {};
  for (const dep of task.deps) {
    const u = upstream.get(dep);
    const entry: UpstreamPart = {
      outputs: u ? outputsHash(u.outputs) : "never ran",
      result: u?.resultHash ?? null,
    };
    if (u?.items !== undefined) entry.items = u.items;
    up[dep] = entry;
  }
  const s = staticHashesOf(task);
  return {
    definition: s.definition,
    code,
    args: s.argsHash,
    config: configPart(ctx.config, configKeysIn(ctx, task)),
    env: s.env,
    inputs,
    upstream: up,
    runtime: runtimePart(ctx, RUNTIME_KEYS[task.spec.kind]),
  };
}

const configKeysBySnapshot = new WeakMap<FsSnapshot, Map<string, ConfigKeys>>();

/**
 * {@link configKeysOf} once per pass for each file and function: the tasks of a graph mostly share
 * a few, and the answer depends on nothing else (the snapshot is one look at the code).
 */
function configKeysIn(ctx: PlanContext, task: GraphTask): ConfigKeys {
  const s = task.spec;
  if (s.file === undefined || s.command !== undefined) return "all";
  const snapshot = snapshotOf(ctx);
  let known = configKeysBySnapshot.get(snapshot);
  if (known === undefined) {
    known = new Map();
    configKeysBySnapshot.set(snapshot, known);
  }
  const key = `${s.kind}\0${s.file}\0${s.function ?? s.name}`;
  let keys = known.get(key);
  if (keys === undefined) {
    keys = configKeysOf(snapshot, s);
    known.set(key, keys);
  }
  return keys;
}

const snapshots = new WeakMap<PlanContext, FsSnapshot>();

/** The pass's code snapshot, or one kept for this context when the caller made none. */
function snapshotOf(ctx: PlanContext): FsSnapshot {
  if (ctx.codeSnapshot !== undefined) return ctx.codeSnapshot;
  let s = snapshots.get(ctx);
  if (s === undefined) {
    s = new FsSnapshot(ctx.spec.root, ctx.reads);
    snapshots.set(ctx, s);
  }
  return s;
}

/**
 * The `duckdb://` tables among recorded outputs, hashed now. The database file's metadata is
 * recorded as a read, so the shortcuts keyed on planning's reads see a change to any table.
 */
async function recordedTables(
  ctx: PlanContext,
  outputs: readonly OutputRecord[],
): Promise<Map<string, TableHash | undefined>> {
  const urls = outputs.filter((o) => isDuckdbOutput(o.path)).map((o) => o.path);
  if (urls.length === 0) return new Map();
  const db = projectDatabasePath(ctx.spec.root, ctx.spec.settings);
  ctx.reads?.stat(db);
  ctx.reads?.stat(`${db}.wal`);
  return hashDuckdbTables(db, urls);
}

/**
 * Checks that the outputs recorded with the last success still exist with their hashes.
 * Returns the reasons they do not (`output missing: x`, `output modified: x`).
 */
export async function checkRecordedOutputs(
  ctx: PlanContext,
  outputs: readonly OutputRecord[],
): Promise<string[]> {
  const reasons: string[] = [];
  const tables = await recordedTables(ctx, outputs);
  for (const o of outputs) {
    if (tables.has(o.path)) {
      const now = tables.get(o.path);
      if (now === undefined) reasons.push(`output missing: ${o.path}`);
      else if (now.hash !== o.hash) reasons.push(`output modified: ${o.path}`);
      continue;
    }
    const now = await hashFile(path.resolve(ctx.spec.root, o.path), ctx.fileCache, ctx.reads);
    if (now === undefined) reasons.push(`output missing: ${o.path}`);
    else if (now.hash !== o.hash) reasons.push(`output modified: ${o.path}`);
  }
  return reasons;
}

/**
 * Decides whether `task` must run: never ran, forced, `cache: false`, failed last time, any
 * fingerprint part changed (each change named), or a recorded output missing or modified.
 * A task is fresh only when none holds (DESIGN.md "Fingerprint").
 */
export async function decideTask(
  ctx: PlanContext,
  task: GraphTask,
  upstream: ReadonlyMap<string, UpstreamState | undefined>,
  previous: PreviousRuns,
  options: { force?: boolean } = {},
): Promise<TaskDecision> {
  const parts = await fingerprintTask(ctx, task, upstream);
  return decideParts(ctx, task, parts, previous, options);
}

/**
 * {@link decideTask} at once, when nothing needs reading: the task never succeeded (no recorded
 * outputs to check) and {@link fingerprintTaskNow} has its parts. Undefined otherwise; the same
 * decision either way.
 */
export function decideTaskNow(
  ctx: PlanContext,
  task: GraphTask,
  upstream: ReadonlyMap<string, UpstreamState | undefined>,
  previous: PreviousRuns,
  options: { force?: boolean } = {},
): TaskDecision | undefined {
  if (previous.lastSuccess !== undefined) return undefined;
  const parts = fingerprintTaskNow(ctx, task, upstream);
  if (parts === undefined) return undefined;
  const d = decisionBeforeOutputs(task, parts, previous, options);
  d.action = d.reasons.length > 0 ? "run" : "fresh";
  return d;
}

/** The last attempt and the last success of a task (or of one item). */
export interface PreviousRuns {
  lastAttempt?: TaskRunRecord;
  lastSuccess?: TaskRunRecord;
}

/**
 * The decision for already computed fingerprint parts (a task, or one item of a mapped task):
 * forced, `cache: false`, failed/cancelled/interrupted last time, never ran, each changed part,
 * and recorded outputs that are missing or modified.
 */
export async function decideParts(
  ctx: PlanContext,
  task: GraphTask,
  parts: FingerprintParts,
  previous: PreviousRuns,
  options: { force?: boolean; fingerprint?: string } = {},
): Promise<TaskDecision> {
  const d = decisionBeforeOutputs(task, parts, previous, options);
  const last = previous.lastSuccess;
  if (last !== undefined) d.reasons.push(...(await checkRecordedOutputs(ctx, last.outputs)));
  d.action = d.reasons.length > 0 ? "run" : "fresh";
  return d;
}

/** {@link decideParts}' decision and reasons, but for the recorded outputs' check. */
function decisionBeforeOutputs(
  task: GraphTask,
  parts: FingerprintParts,
  previous: PreviousRuns,
  options: { force?: boolean; fingerprint?: string },
): TaskDecision {
  let partsJson: string | undefined;
  let fingerprint = options.fingerprint;
  if (fingerprint === undefined) {
    partsJson = partsCanonicalJson(parts);
    fingerprint = hashString(partsJson);
  }
  const reasons: string[] = [];
  const last = previous.lastSuccess;
  if (options.force) reasons.push("forced");
  if (!task.spec.cache) reasons.push("cache: false");
  const lastStatus = previous.lastAttempt?.status;
  if (lastStatus === "failed") reasons.push("failed last time");
  else if (lastStatus === "cancelled") reasons.push("cancelled last time");
  // A "running" attempt left by a process that died before recording (crash, kill -9): rerun.
  else if (lastStatus === "running") reasons.push("interrupted last time");
  if (last === undefined) {
    if (!previous.lastAttempt) reasons.push("never ran");
  } else if (last.fingerprint !== fingerprint) {
    const changes = last.parts ? diffParts(last.parts as FingerprintParts, parts) : [];
    reasons.push(...(changes.length > 0 ? changes.map(describeChange) : ["fingerprint changed"]));
  }
  const d: TaskDecision = { task: task.name, action: "run", reasons, fingerprint, parts };
  if (partsJson !== undefined) d.partsJson = partsJson;
  return d;
}
