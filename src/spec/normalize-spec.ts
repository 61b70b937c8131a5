import path from "node:path";
import type { Diagnostic } from "./diagnostic.js";
import { formatPath } from "./diagnostic.js";
import { expandKptnConfig } from "./kptn-config.js";
import type { SourceMap } from "./parse-yaml.js";
import type { GraphEntryFile, SpecFile, TaskFile } from "./schema.js";
import type { SpecFiles } from "./spec-files.js";
import type {
  Compute,
  ExtendsSpec,
  GraphEntrySpec,
  GraphSpec,
  SecretRef,
  Settings,
  Spec,
  SpecFormat,
  TaskKind,
  TaskSpec,
} from "./types.js";

type Path = (string | number)[];

/** What normalizing needs beyond the parsed file. */
export interface NormalizeContext {
  file: string;
  root: string;
  format: SpecFormat;
  sourceMap: SourceMap;
  /** How task files are probed (recorded by commands that keep the spec cache). */
  files: SpecFiles;
  /** Settings from pyproject.toml `[tool.kptn]`, under the file's own settings. */
  extraSettings?: Record<string, unknown>;
}

const PY = new Set([".py"]);
const R = new Set([".r"]);
const NODE = new Set([".ts", ".mts", ".js", ".mjs"]);
const SHELL = new Set([".sh"]);
const SQL = new Set([".sql"]);

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** `a, b` → ["a", "b"]. */
export function splitNames(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Seconds from `90`, `"90s"`, `"15m"`, `"2h"`, `"500ms"`. */
export function parseDuration(value: number | string): number {
  if (typeof value === "number") return value;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(value);
  if (!m) throw new Error(`invalid duration ${value}`);
  const n = Number(m[1]);
  const unit = m[2];
  return unit === "ms" ? n / 1000 : unit === "s" ? n : unit === "m" ? n * 60 : n * 3600;
}

/** kptn compute: cpu ≥ 64 are Fargate CPU units (1024 per vCPU); smaller values are vCPUs. */
export function normalizeCompute(c: TaskFile["compute"]): Compute {
  const out: Compute = {};
  if (c?.cpu !== undefined) out.cpu = c.cpu >= 64 ? c.cpu / 1024 : c.cpu;
  if (c?.memory !== undefined) out.memoryMiB = c.memory;
  if (c?.gpu !== undefined) out.gpu = c.gpu;
  return out;
}

/**
 * True when a relative path pattern stays inside its base directory once normalized. `${VAR}`
 * placeholders are treated as one path segment; their values are checked again when filled.
 */
export function staysInside(pattern: string): boolean {
  if (pattern.includes("\0")) return false;
  const p = pattern.replace(/\$\{[^}]*\}/g, "x").replaceAll("\\", "/");
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) return false;
  const norm = path.posix.normalize(p);
  return norm !== ".." && !norm.startsWith("../");
}

/**
 * Turns the shape-checked file into a {@link Spec}: shorthands expanded, defaults filled, kinds
 * inferred, file paths resolved (kptn search order) and checked to stay inside the project root.
 * Pushes every problem found to `diagnostics` and still returns a best-effort Spec.
 */
export function normalizeSpec(
  data: SpecFile,
  ctx: NormalizeContext,
  diagnostics: Diagnostic[],
): Spec {
  const { sourceMap } = ctx;
  const err: Report = (kind, at, message, hint, key = false) => {
    diagnostics.push({
      severity: "error",
      kind,
      path: formatPath(at),
      location: key ? sourceMap.locateKey(at) : sourceMap.locate(at),
      message,
      ...(hint ? { hint } : {}),
    });
  };

  const settings = normalizeSettings(data, ctx, err);

  // kptn's include and value/function entries are kptn.yaml features (see kptn-config.ts).
  const configOf: ConfigOf = (raw, at) =>
    ctx.format === "kptn"
      ? expandKptnConfig(raw ?? {}, at, { root: ctx.root, files: ctx.files, report: err })
      : (raw ?? {});
  const config = configOf(data.config, ["config"]);
  const tasks = normalizeTasks(data, ctx, settings, config, err);
  const graphs: Record<string, GraphSpec> = {};
  for (const [name, g] of Object.entries(data.graphs))
    graphs[name] = normalizeGraph(name, g, ctx, configOf, err);

  const environments: Spec["environments"] = {};
  for (const [name, e] of Object.entries(data.environments ?? {}))
    environments[name] = { config: configOf(e.config, ["environments", name, "config"]) };

  return {
    file: ctx.file,
    root: ctx.root,
    format: ctx.format,
    outputsBase: ctx.format === "kptn" ? "scratch" : "root",
    settings,
    config,
    environments,
    graphs,
    tasks,
  };
}

/** A config map as the graph sees it (kptn's includes and entries expanded). */
type ConfigOf = (raw: Record<string, unknown> | undefined, at: Path) => Record<string, unknown>;

/**
 * Every task, normalized; reports machine types that `config.machine_types` does not declare.
 * kptn tasks of Python open `config.duckdb` when it names a connection function.
 */
function normalizeTasks(
  data: SpecFile,
  ctx: NormalizeContext,
  settings: Settings,
  config: Record<string, unknown>,
  err: Report,
): Record<string, TaskSpec> {
  const machineTypes = config.machine_types;
  const opensKptnDatabase =
    ctx.format === "kptn" &&
    typeof config.duckdb === "string" &&
    /^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$/u.test(config.duckdb.trim());

  const tasks: Record<string, TaskSpec> = {};
  for (const [name, t] of Object.entries(data.tasks)) {
    const at: Path = ["tasks", name];
    const task = normalizeTask(name, t, at, ctx, settings, err);
    if (task.machineType !== undefined) {
      const declared =
        machineTypes && typeof machineTypes === "object" ? Object.keys(machineTypes) : [];
      if (!declared.includes(task.machineType)) {
        err(
          "unknown-machine-type",
          [...at, "machine_type"],
          `machine type "${task.machineType}" is not declared`,
          declared.length > 0
            ? `declared machine types: ${declared.join(", ")}`
            : "declare it under config.machine_types, e.g. {gpu_small: {cpu: 4, memory: 16384, gpu: 1}}",
        );
      }
    }
    // kptn hands every task the `config.duckdb` connection: Python tasks take their turn on the
    // database file like SQL tasks (DuckDB allows one writing process).
    if (task.kind === "python" && opensKptnDatabase) task.opensDatabase = true;
    tasks[name] = task;
  }
  return tasks;
}

/** One graph: `extends` and task entries expanded, each with its location; its config read. */
function normalizeGraph(
  name: string,
  g: SpecFile["graphs"][string],
  ctx: NormalizeContext,
  configOf: ConfigOf,
  err: Report,
): GraphSpec {
  const { sourceMap } = ctx;
  const at: Path = ["graphs", name];
  if (g.tasks === undefined && g.extends === undefined) {
    err(
      "empty-graph",
      at,
      "a graph needs `tasks`, `extends`, or both",
      "list the graph's tasks under `tasks:`, or inherit another graph with `extends:`",
    );
  }
  const ext: ExtendsSpec[] = [];
  const extList = g.extends === undefined ? [] : Array.isArray(g.extends) ? g.extends : [g.extends];
  for (const [i, e] of extList.entries()) {
    const loc = sourceMap.locate(
      Array.isArray(g.extends) ? [...at, "extends", i] : [...at, "extends"],
    );
    if (typeof e === "string") ext.push({ graph: e, args: {}, location: loc });
    else ext.push({ graph: e.graph, args: e.args ?? {}, location: loc });
  }
  const entries: GraphEntrySpec[] = [];
  for (const [taskName, entry] of Object.entries(g.tasks ?? {})) {
    entries.push({
      task: taskName,
      ...expandEntry(entry),
      location: sourceMap.locateKey([...at, "tasks", taskName]),
    });
  }
  const graph: GraphSpec = {
    name,
    extends: ext,
    entries,
    config: configOf(g.config, [...at, "config"]),
    location: sourceMap.locateKey(at),
  };
  if (g.description !== undefined) graph.description = g.description;
  return graph;
}

/** `settings` (under pyproject.toml's `[tool.kptn]`), with defaults, and its paths checked. */
function normalizeSettings(
  data: SpecFile,
  ctx: NormalizeContext,
  err: (kind: string, at: Path, message: string, hint?: string) => void,
): Settings {
  const rawSettings: Record<string, unknown> = {
    ...(ctx.extraSettings ?? {}),
    ...(data.settings ?? {}),
  };
  const settingsFile = rawSettings as NonNullable<SpecFile["settings"]>;
  const settings: Settings = {
    name: settingsFile.name ?? path.basename(ctx.root),
    scratchDir: settingsFile.scratch_dir ?? "scratch",
    pyTasksDirs: list(settingsFile.py_tasks_dir),
    rTasksDirs: list(settingsFile.r_tasks_dir),
    raw: rawSettings,
  };
  if (settingsFile.cache_namespace !== undefined)
    settings.cacheNamespace = settingsFile.cache_namespace;
  if (settingsFile.base_branch !== undefined) settings.baseBranch = settingsFile.base_branch;
  if (settingsFile.docker_image !== undefined) settings.dockerImage = settingsFile.docker_image;
  if (settingsFile.group_tag_prefix !== undefined)
    settings.groupTagPrefix = settingsFile.group_tag_prefix;
  if (settingsFile.keep_logs !== undefined) settings.keepLogs = settingsFile.keep_logs;
  if (settingsFile.strict_outputs !== undefined)
    settings.strictOutputs = settingsFile.strict_outputs;
  for (const dir of [
    ...settings.pyTasksDirs,
    ...settings.rTasksDirs,
    ...list(settingsFile.duckdb_tasks_dir),
  ]) {
    if (!staysInside(dir)) {
      err(
        "path-escapes-root",
        ["settings"],
        `task directory ${JSON.stringify(dir)} is outside the project root`,
        "use a path relative to the spec's directory, without leading '..'",
      );
    }
  }
  if (!staysInside(settings.scratchDir)) {
    err(
      "path-escapes-root",
      ["settings", "scratch_dir"],
      `scratch_dir ${JSON.stringify(settings.scratchDir)} is outside the project root`,
      "use a relative path; set SCRATCH_DIR at run time to put scratch elsewhere",
    );
  }
  if (settingsFile.db_path !== undefined && !staysInside(settingsFile.db_path)) {
    err(
      "path-escapes-root",
      ["settings", "db_path"],
      `db_path ${JSON.stringify(settingsFile.db_path)} is outside the project root`,
      "use a path relative to the spec's directory, without leading '..'",
    );
  }
  return settings;
}

function expandEntry(entry: GraphEntryFile): { deps: string[]; args: Record<string, unknown> } {
  if (entry === null) return { deps: [], args: {} };
  if (typeof entry === "string") return { deps: [entry], args: {} };
  if (Array.isArray(entry)) return { deps: [...entry], args: {} };
  const deps =
    entry.deps === undefined ? [] : Array.isArray(entry.deps) ? [...entry.deps] : [entry.deps];
  return { deps, args: entry.args ?? {} };
}

function kindOf(ext: string): TaskKind | undefined {
  if (PY.has(ext)) return "python";
  if (R.has(ext)) return "r";
  if (NODE.has(ext)) return "node";
  if (SHELL.has(ext)) return "shell";
  if (SQL.has(ext)) return "sql";
  return undefined;
}

type Report = (kind: string, at: Path, message: string, hint?: string, key?: boolean) => void;

/** One task: shorthands expanded, defaults filled, kind inferred, paths and fields checked. */
function normalizeTask(
  name: string,
  t: TaskFile,
  at: Path,
  ctx: NormalizeContext,
  settings: Settings,
  err: Report,
): TaskSpec {
  const task = taskFields(name, t, at, ctx);
  resolveRunnable(task, t, at, ctx, settings, err);
  checkTaskPaths(task, t, at, ctx, err);
  checkRefArgs(task, at, err);
  checkFanOutFields(task, at, err);
  return task;
}

/** The task's fields with their defaults, before its kind is known (`command` until then). */
function taskFields(name: string, t: TaskFile, at: Path, ctx: NormalizeContext): TaskSpec {
  const task: TaskSpec = {
    name,
    kind: "command",
    functionExplicit: false,
    outputs: (t.outputs ?? []).map((o) => (typeof o === "string" ? o : o.path)),
    inPlaceOutputs: (t.outputs ?? []).flatMap((o) =>
      typeof o !== "string" && o.in_place === true ? [o.path] : [],
    ),
    inputs: t.inputs ?? [],
    args: t.args ?? {},
    cacheResult: t.cache_result ?? false,
    cache: t.cache ?? true,
    compute: normalizeCompute(t.compute),
    tags: t.tags ?? [],
    retries: t.retries ?? 0,
    env: Object.fromEntries(Object.entries(t.env ?? {}).map(([k, v]) => [k, String(v)])),
    secrets: (t.secrets ?? []).map(
      (s): SecretRef =>
        typeof s === "string"
          ? { env: s, name: s, key: s }
          : { env: s.env ?? s.name, name: s.name, key: s.key ?? s.env ?? s.name },
    ),
    location: ctx.sourceMap.locateKey(at),
  };
  const optional = {
    description: t.description,
    prefixArgs: t.prefix_args,
    cliArgs: t.cli_args,
    logs: t.logs,
    bundleSize: t.bundle_size,
    groupSize: t.group_size,
    machineType: t.machine_type,
    group: t.group,
    template: t.template,
  } as const;
  for (const [k, v] of Object.entries(optional))
    if (v !== undefined) (task as unknown as Record<string, unknown>)[k] = v;
  if (t.timeout !== undefined) task.timeoutSeconds = parseDuration(t.timeout);
  if (t.iterable_item !== undefined) task.iterableItem = splitNames(t.iterable_item);
  if (t.map_over !== undefined) task.mapOver = splitNames(t.map_over);
  if (t.duckdb_checkpoint === true) task.duckdbCheckpoint = true;
  return task;
}

/** What the task runs: its `command`, or its `file` resolved; exactly one of them is required. */
function resolveRunnable(
  task: TaskSpec,
  t: TaskFile,
  at: Path,
  ctx: NormalizeContext,
  settings: Settings,
  err: Report,
): void {
  if (t.file !== undefined && t.command !== undefined) {
    err(
      "file-and-command",
      [...at, "command"],
      "a task has either `file` or `command`, not both",
      "keep one of them",
      true,
    );
  } else if (t.file === undefined && t.command === undefined) {
    err(
      "missing-field",
      at,
      'missing "file" or "command"',
      'add `file: path/to/code.py` (or .R, .ts, .js, .sh), or `command: ["prog", "arg"]`',
      true,
    );
  }

  if (t.command !== undefined) {
    task.kind = "command";
    task.command = typeof t.command === "string" ? { shell: t.command } : { argv: [...t.command] };
  } else if (t.file !== undefined) {
    resolveFile(task, t.file, [...at, "file"], ctx, settings, err);
  }
}

/** Reports outputs and inputs that leave the project (outputs: the scratch directory for kptn). */
function checkTaskPaths(
  task: TaskSpec,
  t: TaskFile,
  at: Path,
  ctx: NormalizeContext,
  err: Report,
): void {
  for (const [i, o] of task.outputs.entries()) {
    if (o.startsWith("duckdb://")) continue;
    if (!staysInside(o)) {
      err(
        "path-escapes-root",
        typeof t.outputs?.[i] === "string" ? [...at, "outputs", i] : [...at, "outputs", i, "path"],
        `output ${JSON.stringify(o)} is outside the ${ctx.format === "kptn" ? "scratch directory" : "project root"}`,
        "write outputs under the project (relative paths without leading '..')",
      );
    }
  }
  for (const [i, p] of task.inputs.entries()) {
    if (!staysInside(p))
      err(
        "path-escapes-root",
        [...at, "inputs", i],
        `input ${JSON.stringify(p)} is outside the project root`,
        "copy or link the file into the project, and list its relative path",
      );
  }
}

/** Reports `{ref: ...}` args that carry anything but one dependency name. */
function checkRefArgs(task: TaskSpec, at: Path, err: Report): void {
  for (const [argName, v] of Object.entries(task.args)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && "ref" in v) {
      const keys = Object.keys(v);
      if (keys.length !== 1 || typeof (v as { ref: unknown }).ref !== "string") {
        err(
          "invalid-ref",
          [...at, "args", argName],
          "a ref arg is written {ref: dependency_name} and nothing else",
          "e.g. `args: {rows: {ref: extract}}`",
        );
      }
    }
  }
}

/** Reports fan-out fields set where they have no effect. */
function checkFanOutFields(task: TaskSpec, at: Path, err: Report): void {
  if (task.bundleSize !== undefined && task.mapOver === undefined) {
    err(
      "bundle-without-map",
      [...at, "bundle_size"],
      "bundle_size only applies to a task with map_over",
      "add map_over, or remove bundle_size",
    );
  }
  if (task.groupSize !== undefined && task.mapOver === undefined) {
    err(
      "group-without-map",
      [...at, "group_size"],
      "group_size only applies to a task with map_over",
      "add map_over, or remove group_size",
    );
  }
  if (task.iterableItem !== undefined && !task.cacheResult) {
    err(
      "iterable-without-result",
      [...at, "iterable_item"],
      "iterable_item names the items of the task's result, but cache_result is not true",
      "add `cache_result: true` so downstream tasks can map over the result",
    );
  }
}

function resolveFile(
  task: TaskSpec,
  written: string,
  at: Path,
  ctx: NormalizeContext,
  settings: Settings,
  err: Report,
): void {
  const colon = written.lastIndexOf(":");
  const hasFunc = colon > 1 && /^[A-Za-z_$][\w$]*$/.test(written.slice(colon + 1));
  const filePart = hasFunc ? written.slice(0, colon) : written;
  const ext = path.extname(filePart).toLowerCase();
  const kind = kindOf(ext);
  if (kind === undefined) {
    err(
      "unknown-file-kind",
      at,
      `cannot tell how to run ${JSON.stringify(filePart)} from its extension "${ext}"`,
      "use .py, .R, .ts, .js, .mjs or .sh, or give an explicit `command:`",
    );
    return;
  }
  task.kind = kind;
  if (hasFunc && kind !== "python" && kind !== "node") {
    err(
      "invalid-function",
      at,
      `a function name (":${written.slice(colon + 1)}") only applies to Python and TS/JS files`,
      `write \`file: ${filePart}\``,
    );
  }
  if (kind === "python" || kind === "node") {
    task.function = hasFunc ? written.slice(colon + 1) : task.name;
    task.functionExplicit = hasFunc;
  }
  if (!staysInside(filePart)) {
    err(
      "path-escapes-root",
      at,
      `file ${JSON.stringify(filePart)} is outside the project root`,
      "move the code into the project and use a relative path",
    );
    return;
  }
  const posix = path.posix.normalize(filePart.replaceAll("\\", "/"));
  if (posix.includes("${")) {
    task.file = posix; // kptn R paths may hold ${VAR}, filled per item at run time
    return;
  }
  const searchDirs = [
    "",
    ...(kind === "python"
      ? settings.pyTasksDirs
      : kind === "r"
        ? settings.rTasksDirs
        : kind === "sql"
          ? list((settings.raw as NonNullable<SpecFile["settings"]>).duckdb_tasks_dir)
          : []),
  ];
  const candidates = [
    ...new Set(searchDirs.map((d) => path.posix.normalize(path.posix.join(d, posix)))),
  ];
  const found = candidates.find((c) => ctx.files.exists(path.join(ctx.root, c)));
  if (found === undefined) {
    err(
      "file-not-found",
      at,
      `file ${JSON.stringify(filePart)} does not exist`,
      `looked for ${candidates.map((c) => JSON.stringify(c)).join(", ")} under ${ctx.root}`,
    );
    task.file = posix;
    return;
  }
  task.file = found;
}
