import { canonicalJson } from "./canonical-json.js";
import { hashValue } from "./hash-value.js";

/** What an upstream task contributes: its recorded outputs, its cached result, its items. */
export interface UpstreamPart {
  /** Hash of the dependency's recorded outputs (`never ran` when it has no success). */
  outputs: string;
  /** Hash of its cached result, null if none. */
  result: string | null;
  /**
   * Item keys of a mapped dependency, sorted (a set): a task aggregating over the items reruns
   * when one is added or removed, even if no output changed. Absent for other dependencies.
   */
  items?: readonly string[];
}

/**
 * Everything a task's result depends on, each part hashed separately so `explain` can say which
 * one changed. Record parts are keyed by project-relative path, config key, variable name,
 * dependency task name or runtime.
 */
export interface FingerprintParts {
  /** hashValue of the run-relevant definition (kind, file, function, command, outputs, …). */
  definition: string;
  /** Code file (project-relative) → content hash: the task's file and the local code it uses. */
  code: Record<string, string>;
  /** hashValue of the resolved args. */
  args: string;
  /** Top-level config key → hashValue of its value, for the keys the task receives only. */
  config: Record<string, string>;
  /** Declared environment variable → hashValue of its value (never secret values). */
  env: Record<string, string>;
  /** Declared input file (project-relative) → content hash. */
  inputs: Record<string, string>;
  /** Dependency task → what it contributes (see {@link UpstreamPart}). */
  upstream: Record<string, UpstreamPart>;
  /** Runtime binary → version, e.g. `python3` → `3.11.7`. */
  runtime: Record<string, string>;
}

/**
 * The task's fingerprint: {@link hashValue} of all its parts. Key order never matters.
 *
 * @throws TypeError only if a caller smuggled a non-JSON value into the parts.
 */
export function fingerprintOf(parts: FingerprintParts): string {
  return hashValue(parts);
}

const quote = JSON.stringify;

/**
 * Canonical JSON of frozen records and arrays of strings, by identity: a frozen object of strings
 * can never change, and tasks share them (a code part, a config part, the runtime part).
 */
const frozenJsons = new WeakMap<object, string>();

function isPlain(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    Object.getPrototypeOf(v) === Object.prototype
  );
}

/**
 * Canonical JSON of a plain object (keys in code-unit order, undefined values left out) whose
 * values `valueJson` writes; undefined when it is not a plain object or `valueJson` declines one.
 */
function plainRecordJson(
  record: unknown,
  valueJson: (value: unknown) => string | undefined,
): string | undefined {
  if (!isPlain(record)) return undefined;
  const keys = Object.keys(record);
  if (keys.length > 1) keys.sort();
  let out = "{";
  let first = true;
  for (const k of keys) {
    const v = record[k];
    if (v === undefined) continue;
    const json = valueJson(v);
    if (json === undefined) return undefined;
    out += `${first ? "" : ","}${quote(k)}:${json}`;
    first = false;
  }
  return `${out}}`;
}

function stringJson(value: unknown): string | undefined {
  return typeof value === "string" ? quote(value) : undefined;
}

/** Canonical JSON of a record of strings; undefined if not one. */
function stringRecordJson(record: unknown): string | undefined {
  const frozen = isPlain(record) && Object.isFrozen(record);
  if (frozen) {
    const hit = frozenJsons.get(record);
    if (hit !== undefined) return hit;
  }
  const json = plainRecordJson(record, stringJson);
  if (frozen && json !== undefined) frozenJsons.set(record as object, json);
  return json;
}

/** Canonical JSON of an array of strings; undefined if not one. */
function stringArrayJson(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined;
  const frozen = Object.isFrozen(value);
  if (frozen) {
    const hit = frozenJsons.get(value);
    if (hit !== undefined) return hit;
  }
  let out = "[";
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== "string") return undefined;
    out += (i === 0 ? "" : ",") + quote(v);
  }
  out += "]";
  if (frozen) frozenJsons.set(value, out);
  return out;
}

/** Canonical JSON of one {@link UpstreamPart}; undefined if not shaped as planned. */
function upstreamEntryJson(value: unknown): string | undefined {
  if (!isPlain(value) || typeof value.outputs !== "string") return undefined;
  const result = value.result === null ? "null" : stringJson(value.result);
  if (result === undefined) return undefined;
  const size = Object.keys(value).length;
  if (size === 2 && Object.hasOwn(value, "result"))
    return `{"outputs":${quote(value.outputs)},"result":${result}}`;
  const items = stringArrayJson(value.items);
  if (size !== 3 || items === undefined || !Object.hasOwn(value, "result")) return undefined;
  return `{"items":${items},"outputs":${quote(value.outputs)},"result":${result}}`;
}

/** Canonical JSON of the `upstream` part; undefined if it is not shaped as planned. */
function upstreamJson(record: unknown): string | undefined {
  return plainRecordJson(record, upstreamEntryJson);
}

/**
 * How the fast path writes each part. The mapped type makes a part added to
 * {@link FingerprintParts} without a writer a compile error; a part it does not know at run time
 * sends the whole object to the generic walk.
 */
const PART_WRITERS: {
  readonly [K in keyof FingerprintParts]-?: (v: unknown) => string | undefined;
} = {
  args: stringJson,
  code: stringRecordJson,
  config: stringRecordJson,
  definition: stringJson,
  env: stringRecordJson,
  inputs: stringRecordJson,
  runtime: stringRecordJson,
  upstream: upstreamJson,
};

/** The parts the fast path writes, in canonical (code-unit) order. */
export const FAST_PATH_PARTS: readonly (keyof FingerprintParts)[] = (
  Object.keys(PART_WRITERS) as (keyof FingerprintParts)[]
).sort();

/**
 * `canonicalJson(parts)`, written directly for parts shaped as {@link FingerprintParts} (strings,
 * records of strings, upstream entries): the same string, several times cheaper than the generic
 * walk, since every run fingerprints each task. Frozen records (shared by tasks) are written once.
 * The only fast path: anything else goes through `canonicalJson`.
 */
export function partsCanonicalJson(parts: FingerprintParts): string {
  const p: unknown = parts;
  if (isPlain(p) && Object.keys(p).length === FAST_PATH_PARTS.length) {
    let out = "{";
    for (let i = 0; i < FAST_PATH_PARTS.length; i++) {
      const k = FAST_PATH_PARTS[i]!;
      const json = Object.hasOwn(p, k) ? PART_WRITERS[k](p[k]) : undefined;
      if (json === undefined) return canonicalJson(parts);
      out += `${i === 0 ? "" : ","}"${k}":${json}`;
    }
    return `${out}}`;
  }
  return canonicalJson(parts);
}

/**
 * One difference between two sets of parts. Record parts give one change per key (`key` is the
 * path, task or runtime) with `before`/`after` undefined when the key was added/removed; scalar
 * parts give one change without a key. For `upstream`, `before`/`after` are the canonical JSON
 * of the `{outputs, result}` entry, so both hashes stay visible.
 */
export interface PartChange {
  part: keyof FingerprintParts;
  key?: string;
  before?: string;
  after?: string;
  /**
   * Set on a `code` change whose key is a Python file that switched fingerprint scheme: `function`
   * when it is now hashed per function (keys `file::piece`), `file` when as a whole file again.
   * Such a change stands for all the keys of that file.
   */
  scheme?: "function" | "file";
}

/** The order changes are reported in; typed over every part, so a new part cannot be missed. */
const RANK: { readonly [K in keyof FingerprintParts]-?: number } = {
  definition: 0,
  code: 1,
  args: 2,
  config: 3,
  env: 4,
  inputs: 5,
  upstream: 6,
  runtime: 7,
};
const ORDER = (Object.keys(RANK) as (keyof FingerprintParts)[]).sort((a, b) => RANK[a] - RANK[b]);

function asStrings(part: keyof FingerprintParts, value: unknown): Record<string, string> {
  if (part !== "upstream") return (value ?? {}) as Record<string, string>;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((value ?? {}) as FingerprintParts["upstream"])) {
    out[k] = canonicalJson(v);
  }
  return out;
}

/**
 * What changed between two sets of parts, ordered by part (definition, code, args, config, env,
 * inputs, upstream, runtime) and then by key in code-unit order. Empty when the fingerprints are
 * equal. Tolerates parts missing from an old record (treated as empty), and parts an older
 * version stored as one hash (config, env): those give one change without a key.
 */
export function diffParts(before: FingerprintParts, after: FingerprintParts): PartChange[] {
  const changes: PartChange[] = [];
  for (const part of ORDER) {
    const b = before[part] as unknown;
    const a = after[part] as unknown;
    const scalar = (v: unknown) => v !== undefined && typeof v !== "object";
    if (scalar(b) || scalar(a) || (b === undefined && a === undefined)) {
      if (canonicalJson(b) !== canonicalJson(a)) {
        const change: PartChange = { part };
        if (typeof b === "string") change.before = b;
        if (typeof a === "string") change.after = a;
        changes.push(change);
      }
      continue;
    }
    const bm = asStrings(part, b);
    const am = asStrings(part, a);
    const switched =
      part === "code" ? schemeSwitches(bm, am) : new Map<string, "function" | "file">();
    for (const [key, scheme] of switched) changes.push({ part, key, scheme });
    const keys = [...new Set([...Object.keys(bm), ...Object.keys(am)])].sort();
    for (const key of keys) {
      if (switched.has(key.split("::")[0]!)) continue;
      const bv = Object.hasOwn(bm, key) ? bm[key] : undefined;
      const av = Object.hasOwn(am, key) ? am[key] : undefined;
      if (bv === av) continue;
      const change: PartChange = { part, key };
      if (bv !== undefined) change.before = bv;
      if (av !== undefined) change.after = av;
      changes.push(change);
    }
  }
  return changes;
}

/** Files of `keys` hashed per function (`file::piece`), and files hashed whole. */
function schemesOf(keys: readonly string[]): { pieces: Set<string>; whole: Set<string> } {
  const pieces = new Set<string>();
  const whole = new Set<string>();
  for (const k of keys) {
    const at = k.indexOf("::");
    if (at < 0) whole.add(k);
    else pieces.add(k.slice(0, at));
  }
  return { pieces, whole };
}

/**
 * Files whose code is hashed whole on one side and per function on the other: the scheme changed
 * (a state store from an older version, or a module that gained or lost top-level code), which one
 * change says better than one per function.
 */
function schemeSwitches(
  before: Record<string, string>,
  after: Record<string, string>,
): Map<string, "function" | "file"> {
  const b = schemesOf(Object.keys(before));
  const a = schemesOf(Object.keys(after));
  const out = new Map<string, "function" | "file">();
  for (const f of a.pieces)
    if (b.whole.has(f) && !b.pieces.has(f) && !a.whole.has(f)) out.set(f, "function");
  for (const f of b.pieces)
    if (a.whole.has(f) && !a.pieces.has(f) && !b.whole.has(f)) out.set(f, "file");
  return new Map([...out].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

/** `code` changes: a file, a piece of a Python function task's module, or a scheme switch. */
function describeCode(c: PartChange): string {
  const key = c.key ?? "";
  if (c.scheme === "function")
    return `code: ${key} now fingerprinted per function (fingerprint scheme changed)`;
  if (c.scheme === "file") return `code: ${key} now fingerprinted as a whole file`;
  const at = key.indexOf("::");
  if (at >= 0) {
    const file = key.slice(0, at);
    const piece = key.slice(at + 2);
    const what = piece === "imports" ? `imports of ${file}` : `${piece} in ${file}`;
    if (c.before === undefined) return `code: ${what} now used`;
    if (c.after === undefined) return `code: ${what} no longer used`;
    return `code: ${what} changed`;
  }
  if (c.before === undefined) return `code file added: ${key}`;
  if (c.after === undefined) return `code file removed: ${key}`;
  return `code changed: ${key}`;
}

function upstreamEntry(s: string | undefined): Partial<UpstreamPart> {
  if (s === undefined) return {};
  try {
    return JSON.parse(s) as Partial<UpstreamPart>;
  } catch {
    return {};
  }
}

/** `+NC, -SC` (at most 5 of each); `reordered` only for a caller that passed unsorted keys. */
function describeItems(before: readonly string[], after: readonly string[]): string {
  const had = new Set(before);
  const has = new Set(after);
  const list = (sign: string, keys: string[]) =>
    keys.length > 5
      ? [...keys.slice(0, 5).map((k) => sign + k), `${sign}${keys.length - 5} more`]
      : keys.map((k) => sign + k);
  const changes = [
    ...list(
      "+",
      after.filter((k) => !had.has(k)),
    ),
    ...list(
      "-",
      before.filter((k) => !has.has(k)),
    ),
  ];
  return changes.length > 0 ? changes.join(", ") : "reordered";
}

function describeUpstream(c: PartChange, key: string): string {
  if (c.before === undefined) return `upstream added: ${key}`;
  if (c.after === undefined) return `upstream removed: ${key}`;
  const b = upstreamEntry(c.before);
  const a = upstreamEntry(c.after);
  const said: string[] = [];
  const outputs = b.outputs !== a.outputs;
  const result = b.result !== a.result;
  if (outputs && result) said.push(`upstream output and result changed: ${key}`);
  else if (result) said.push(`upstream result changed: ${key}`);
  else if (outputs) said.push(`upstream output changed: ${key}`);
  if (canonicalJson(b.items ?? null) !== canonicalJson(a.items ?? null))
    said.push(`items of ${key} changed: ${describeItems(b.items ?? [], a.items ?? [])}`);
  return said.length > 0 ? said.join("; ") : `upstream changed: ${key}`;
}

/** `config`/`env` changes: `config changed: region`, `env added: TZ`, `env removed: TZ`. */
function describeKeyed(c: PartChange): string {
  if (c.key === undefined) return `${c.part} changed`;
  if (c.before === undefined) return `${c.part} added: ${c.key}`;
  if (c.after === undefined) return `${c.part} removed: ${c.key}`;
  return `${c.part} changed: ${c.key}`;
}

/**
 * A one-line human reason for a change, as shown by `run`, `status` and `explain`: `code changed:
 * B/run.R`, `code file added: util.py`, `code: function helper in tasks/clean.py changed`,
 * `code: name RATE in tasks/clean.py now used`, `input missing: data/a.csv`, `config changed: region`,
 * `env changed: TZ`, `upstream output changed: extract`, `items of states changed: +NC, -SC`,
 * `runtime changed: python3 3.11.7 → 3.12.1`, `args changed`, …
 */
export function describeChange(c: PartChange): string {
  const key = c.key ?? "";
  const added = c.before === undefined;
  const removed = c.after === undefined;
  switch (c.part) {
    case "code":
      return describeCode(c);
    case "config":
    case "env":
      return describeKeyed(c);
    case "inputs":
      if (added) return `input added: ${key}`;
      if (removed) return `input missing: ${key}`;
      return `input changed: ${key}`;
    case "upstream":
      return describeUpstream(c, key);
    case "runtime":
      if (c.key === undefined) return "runtime changed";
      if (added) return `runtime added: ${key} ${c.after}`;
      if (removed) return `runtime removed: ${key} ${c.before}`;
      return `runtime changed: ${key} ${c.before} → ${c.after}`;
    default:
      return `${c.part} changed`;
  }
}
