import type { SourceLocation } from "./diagnostic.js";

/** Which file format a spec was read from; decides where kptn-relative paths point. */
export type SpecFormat = "dagwright" | "kptn";

/**
 * How a task is launched. `node` covers TypeScript and JavaScript modules, `command` an explicit
 * argv or shell string. `sql` runs a `.sql` file's statements against the project's DuckDB database.
 */
export type TaskKind = "python" | "r" | "node" | "shell" | "command" | "sql";

/** A secret referenced by name: `env` is the variable the task sees, `name`/`key` locate it. */
export interface SecretRef {
  env: string;
  name: string;
  key: string;
}

/** Normalized resources: `cpu` in vCPUs (Fargate units already converted), memory in MiB. */
export interface Compute {
  cpu?: number;
  memoryMiB?: number;
  gpu?: number;
}

/** An argument that passes a dependency's cached result under another name: `{ref: dep}`. */
export interface RefArg {
  ref: string;
}

/** A task with shorthands expanded and defaults filled. Plain data; no YAML nodes. */
export interface TaskSpec {
  name: string;
  kind: TaskKind;
  /** Project-relative POSIX path of the code file, for file tasks. */
  file?: string;
  /** Exported function to call (Python and TS/JS); defaults to the task name. */
  function?: string;
  /** True when the user wrote `file.py:func`; a default-named function may be absent (script). */
  functionExplicit: boolean;
  /** `command`: an argv list runs without a shell; a string runs with `sh -c`. */
  command?: { argv: string[] } | { shell: string };
  description?: string;
  /** Output patterns, relative to `outputsBase` of the spec (in-place ones included). */
  outputs: string[];
  /**
   * The patterns of `outputs` written `{path, in_place: true}`: updated in place, so not moved
   * aside before an attempt (every other output must be written anew by each attempt).
   */
  inPlaceOutputs: string[];
  /** Extra input file patterns, relative to the project root. */
  inputs: string[];
  /** Static args; values may be {@link RefArg}. */
  args: Record<string, unknown>;
  cacheResult: boolean;
  /** false: always run (never considered fresh). */
  cache: boolean;
  /** `iterable_item: a,b` → ["a", "b"]. */
  iterableItem?: string[];
  /** `map_over: a,b` → ["a", "b"]. */
  mapOver?: string[];
  bundleSize?: number;
  groupSize?: number;
  prefixArgs?: string;
  cliArgs?: string;
  logs?: string;
  compute: Compute;
  machineType?: string;
  tags: string[];
  retries: number;
  timeoutSeconds?: number;
  env: Record<string, string>;
  secrets: SecretRef[];
  group?: string;
  template?: string;
  /** `duckdb_checkpoint: true`: the project database is copied aside after each success. */
  duckdbCheckpoint?: boolean;
  /**
   * The task may open the project database itself: a Python task of a kptn.yaml whose
   * `config.duckdb` names a connection function (kptn hands every task that connection).
   */
  opensDatabase?: boolean;
  location: SourceLocation;
}

/** One node entry of a graph as declared (before `extends` is resolved). */
export interface GraphEntrySpec {
  task: string;
  deps: string[];
  args: Record<string, unknown>;
  location: SourceLocation;
}

/** One `extends` item: inherit `graph`, overriding args per task. */
export interface ExtendsSpec {
  graph: string;
  args: Record<string, Record<string, unknown>>;
  location: SourceLocation;
}

export interface GraphSpec {
  name: string;
  description?: string;
  extends: ExtendsSpec[];
  entries: GraphEntrySpec[];
  config: Record<string, unknown>;
  location: SourceLocation;
}

export interface Settings {
  /** Project name: `settings.name`, else the project directory's name. */
  name: string;
  /** Cache namespace override; the default is the graph name. */
  cacheNamespace?: string;
  /**
   * `settings.base_branch`: the branch whose state a branch without any starts from, or `none`;
   * `DAGWRIGHT_BASE_BRANCH` overrides it. Unset: the first of main and master that has state.
   */
  baseBranch?: string;
  /** Scratch root relative to the project (default `scratch`); `SCRATCH_DIR` overrides at run time. */
  scratchDir: string;
  pyTasksDirs: string[];
  rTasksDirs: string[];
  dockerImage?: string;
  groupTagPrefix?: string;
  /** `keep_logs`: attempt logs kept per task and item; unset means the default (5). */
  keepLogs?: number;
  /** `strict_outputs`: a kptn.yaml project fails tasks whose output patterns match nothing. */
  strictOutputs?: boolean;
  /** Every setting as written (kptn keys included), for tools that need the rest. */
  raw: Record<string, unknown>;
}

/** A validated, normalized pipeline spec: what every later stage reads. */
export interface Spec {
  /** Absolute path of the spec file. */
  file: string;
  /** Absolute project root (the spec file's directory). */
  root: string;
  format: SpecFormat;
  /** Where `outputs` patterns are relative to: the project root, or the scratch dir (kptn). */
  outputsBase: "root" | "scratch";
  settings: Settings;
  config: Record<string, unknown>;
  environments: Record<string, { config: Record<string, unknown> }>;
  graphs: Record<string, GraphSpec>;
  tasks: Record<string, TaskSpec>;
}

/** True when an arg value is a `{ref: dep}` alias. */
export function isRefArg(value: unknown): value is RefArg {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as { ref?: unknown }).ref === "string"
  );
}
