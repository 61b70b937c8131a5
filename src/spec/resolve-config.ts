import { didYouMean } from "./did-you-mean.js";
import { UsageError } from "./errors.js";
import type { Spec } from "./types.js";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep merge: maps merge key by key, anything else in `over` replaces what is in `base`. */
export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Options that layer config for one run or render. */
export interface ConfigOptions {
  /** `--env NAME`: merge `environments.NAME.config` over the rest. */
  env?: string;
  /** `--set key=value` (dotted keys address nested maps; values parse as JSON when they can). */
  set?: readonly string[];
}

/**
 * Every key path (`a`, `a.b`, …) some layer of the graph's config defines: root `config`, the
 * graph's `config`, and each environment's `config` (any environment: a `--set` of a key only
 * `--env cloud` defines is still a key the spec knows).
 */
function definedConfigPaths(spec: Spec, graphName: string): Set<string> {
  const paths = new Set<string>();
  const walk = (record: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(record)) {
      const p = prefix + k;
      paths.add(p);
      if (isPlainObject(v)) walk(v, `${p}.`);
    }
  };
  walk(spec.config, "");
  walk(spec.graphs[graphName]?.config ?? {}, "");
  for (const env of Object.values(spec.environments)) walk(env.config, "");
  return paths;
}

/** Throws a {@link UsageError} when `--set` names a key path that no config layer defines. */
function checkSetKey(key: string, defined: Set<string>): void {
  if (defined.has(key)) return;
  const top = [...defined].filter((p) => !p.includes("."));
  throw new UsageError(
    `--set ${key}: no config defines "${key}".${didYouMean(key, defined)}`.replace(/\.$/, ""),
    top.length > 0
      ? `config keys of this graph: ${top.join(", ")}; declare new keys under \`config:\` in the spec`
      : "this graph has no config; declare keys under `config:` in the spec",
  );
}

/**
 * The config a graph's tasks see, in layers (later wins): root `config`; the graph's `config`
 * merged shallowly (kptn semantics); `environments.<env>.config` merged deeply; then `--set`.
 * Throws {@link UsageError} for an unknown environment, a malformed `--set`, or a `--set` of a key
 * path that no layer defines (a typo would otherwise be ignored silently).
 */
export function resolveConfig(
  spec: Spec,
  graphName: string,
  options: ConfigOptions = {},
): Record<string, unknown> {
  let config: Record<string, unknown> = {
    ...spec.config,
    ...(spec.graphs[graphName]?.config ?? {}),
  };
  if (options.env !== undefined) {
    const env = spec.environments[options.env];
    if (env === undefined) {
      const names = Object.keys(spec.environments);
      throw new UsageError(
        `unknown environment "${options.env}".${didYouMean(options.env, names)}`.replace(/\.$/, ""),
        names.length > 0
          ? `environments in this spec: ${names.join(", ")}`
          : "declare it under `environments: {NAME: {config: {...}}}`",
      );
    }
    config = deepMerge(config, env.config);
  }
  const defined = options.set?.length ? definedConfigPaths(spec, graphName) : new Set<string>();
  for (const assignment of options.set ?? []) {
    const eq = assignment.indexOf("=");
    if (eq <= 0)
      throw new UsageError(
        `--set expects key=value, received ${JSON.stringify(assignment)}`,
        "e.g. --set year=2024 or --set db.host=localhost",
      );
    checkSetKey(assignment.slice(0, eq), defined);
    const keys = assignment.slice(0, eq).split(".");
    const raw = assignment.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // not JSON: keep the string as written
    }
    let nested: Record<string, unknown> = { [keys[keys.length - 1]!]: value };
    for (let i = keys.length - 2; i >= 0; i--) nested = { [keys[i]!]: nested };
    config = deepMerge(config, nested);
  }
  return config;
}
