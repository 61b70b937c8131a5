import { canonicalJson } from "./canonical-json.js";
import { hashValue } from "./hash-value.js";

/**
 * Everything a task's result depends on, each part hashed separately so `explain` can say which
 * one changed. Record parts are keyed by project-relative path, dependency task name or runtime.
 */
export interface FingerprintParts {
  /** hashValue of the run-relevant definition (kind, file, function, command, outputs, …). */
  definition: string;
  /** Code file (project-relative) → content hash: the task's file and the local code it uses. */
  code: Record<string, string>;
  /** hashValue of the resolved args. */
  args: string;
  /** hashValue of the resolved config. */
  config: string;
  /** hashValue of the environment variables the task is given (never secret values). */
  env: string;
  /** Declared input file (project-relative) → content hash. */
  inputs: Record<string, string>;
  /** Dependency task → hash of its recorded outputs, and of its cached result (null if none). */
  upstream: Record<string, { outputs: string; result: string | null }>;
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
 * Canonical JSON of a plain object (keys in code-unit order, undefined values left out) whose
 * values `valueJson` writes; undefined when it is not a plain object or `valueJson` declines one.
 */
function plainRecordJson(
  record: unknown,
  valueJson: (value: unknown) => string | undefined,
): string | undefined {
  if (typeof record !== "object" || record === null || Array.isArray(record)) return undefined;
  const r = record as Record<string, unknown>;
  if (Object.getPrototypeOf(r) !== Object.prototype) return undefined;
  const keys = Object.keys(r);
  if (keys.length > 1) keys.sort();
  let out = "{";
  let first = true;
  for (const k of keys) {
    const v = r[k];
    if (v === undefined) continue;
    const json = valueJson(v);
    if (json === undefined) return undefined;
    out += `${first ? "" : ","}${quote(k)}:${json}`;
    first = false;
  }
  return `${out}}`;
}

/** Canonical JSON of a record of strings; undefined if not one. */
function stringRecordJson(record: unknown): string | undefined {
  return plainRecordJson(record, (v) => (typeof v === "string" ? quote(v) : undefined));
}

/** Canonical JSON of one upstream entry, `{outputs, result}`; undefined if not shaped as planned. */
function upstreamEntryJson(value: unknown): string | undefined {
  const v = value as { outputs?: unknown; result?: unknown };
  if (typeof v !== "object" || v === null || Object.getPrototypeOf(v) !== Object.prototype)
    return undefined;
  if (Object.keys(v).length !== 2 || typeof v.outputs !== "string") return undefined;
  const result = v.result === null ? "null" : typeof v.result === "string" ? quote(v.result) : "";
  if (result === "") return undefined;
  return `{"outputs":${quote(v.outputs)},"result":${result}}`;
}

/** Canonical JSON of the `upstream` part; undefined if it is not shaped as planned. */
function upstreamJson(record: unknown): string | undefined {
  return plainRecordJson(record, upstreamEntryJson);
}

/**
 * `canonicalJson(parts)`, written directly for parts shaped as {@link FingerprintParts} (strings,
 * records of strings, upstream entries): the same string, several times cheaper than the generic
 * walk, since every run fingerprints each task. Anything else goes through `canonicalJson`.
 */
export function partsCanonicalJson(parts: FingerprintParts): string {
  const p = parts as unknown as Record<string, unknown>;
  if (
    Object.getPrototypeOf(p) === Object.prototype &&
    Object.keys(p).length === 8 &&
    typeof p.args === "string" &&
    typeof p.config === "string" &&
    typeof p.definition === "string" &&
    typeof p.env === "string"
  ) {
    const code = stringRecordJson(p.code);
    const inputs = stringRecordJson(p.inputs);
    const runtime = stringRecordJson(p.runtime);
    const upstream = upstreamJson(p.upstream);
    if (
      code !== undefined &&
      inputs !== undefined &&
      runtime !== undefined &&
      upstream !== undefined
    ) {
      return `{"args":${quote(p.args)},"code":${code},"config":${quote(p.config)},"definition":${quote(p.definition)},"env":${quote(p.env)},"inputs":${inputs},"runtime":${runtime},"upstream":${upstream}}`;
    }
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
}

const ORDER: readonly (keyof FingerprintParts)[] = [
  "definition",
  "code",
  "args",
  "config",
  "env",
  "inputs",
  "upstream",
  "runtime",
];

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
 * equal. Tolerates parts missing from an old record (treated as empty).
 */
export function diffParts(before: FingerprintParts, after: FingerprintParts): PartChange[] {
  const changes: PartChange[] = [];
  for (const part of ORDER) {
    const b = before[part] as unknown;
    const a = after[part] as unknown;
    if (typeof b !== "object" && typeof a !== "object") {
      if (b !== a) {
        const change: PartChange = { part };
        if (b !== undefined) change.before = b as string;
        if (a !== undefined) change.after = a as string;
        changes.push(change);
      }
      continue;
    }
    const bm = asStrings(part, b);
    const am = asStrings(part, a);
    const keys = [...new Set([...Object.keys(bm), ...Object.keys(am)])].sort();
    for (const key of keys) {
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

function upstreamEntry(s: string | undefined): { outputs?: unknown; result?: unknown } {
  if (s === undefined) return {};
  try {
    return JSON.parse(s) as { outputs?: unknown; result?: unknown };
  } catch {
    return {};
  }
}

function describeUpstream(c: PartChange, key: string): string {
  if (c.before === undefined) return `upstream added: ${key}`;
  if (c.after === undefined) return `upstream removed: ${key}`;
  const b = upstreamEntry(c.before);
  const a = upstreamEntry(c.after);
  const outputs = b.outputs !== a.outputs;
  const result = b.result !== a.result;
  if (outputs && result) return `upstream output and result changed: ${key}`;
  if (result) return `upstream result changed: ${key}`;
  return `upstream output changed: ${key}`;
}

/**
 * A one-line human reason for a change, as shown by `status` and `explain`: `code changed:
 * B/run.R`, `code file added: util.py`, `input missing: data/a.csv`, `upstream output changed:
 * extract`, `runtime changed: python3 3.11.7 → 3.12.1`, `args changed`, …
 */
export function describeChange(c: PartChange): string {
  const key = c.key ?? "";
  const added = c.before === undefined;
  const removed = c.after === undefined;
  switch (c.part) {
    case "code":
      if (added) return `code file added: ${key}`;
      if (removed) return `code file removed: ${key}`;
      return `code changed: ${key}`;
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
