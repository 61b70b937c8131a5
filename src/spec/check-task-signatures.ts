import path from "node:path";
import { pythonEntryOf } from "./check-task-functions.js";
import type { Diagnostic, SourceLocation } from "./diagnostic.js";
import { scanPythonModule } from "./python-module-facts.js";
import { type PythonSignature, pythonSignature, type SignatureSkip } from "./python-signature.js";
import { isRefArg, type Spec, type TaskSpec } from "./types.js";

/** A task of a built graph, as far as the check needs it (the graph module's `GraphTask` fits). */
export interface SignatureCheckTask {
  spec: TaskSpec;
  /** Direct dependencies. */
  deps: string[];
  /** Static args after graph entries and `extends` overrides. */
  args: Record<string, unknown>;
  /** Where the task's graph entry is written. */
  location: SourceLocation;
}

/** What {@link checkTaskSignatures} reads: one graph's tasks, by name. */
export interface SignatureCheckGraph {
  tasks: Record<string, SignatureCheckTask>;
}

/** The names the runner fills from its own objects when nothing else has them. */
const RUNNER_NAMES = ["pipeline_config", "runtime_config"];

/**
 * Top-level config keys the graph may receive, over every environment, and kptn's duckdb alias;
 * undefined when a top-level kptn `include:` (a file merged in) makes them unknown here.
 */
function configNames(spec: Spec, graph: string): Set<string> | undefined {
  const configs = [
    spec.config,
    spec.graphs[graph]?.config ?? {},
    ...Object.values(spec.environments).map((e) => e.config),
  ];
  const names = new Set<string>();
  for (const c of configs) {
    if (Object.hasOwn(c, "include")) return undefined;
    for (const k of Object.keys(c)) names.add(k);
    const duckdb = c.duckdb as { parameter_name?: unknown } | undefined;
    if (typeof duckdb?.parameter_name === "string") names.add(duckdb.parameter_name);
  }
  return names;
}

/** Dependencies whose cached result the runner passes under the dependency's name. */
function depsPassedByName(task: SignatureCheckTask, graph: SignatureCheckGraph): string[] {
  if (task.spec.mapOver !== undefined) return [];
  return task.deps.filter((d) => graph.tasks[d]?.spec.cacheResult === true);
}

/** Dependencies an arg passes under another name (`{ref: dep}`): their own name is not needed. */
function aliasedDeps(task: SignatureCheckTask): Set<string> {
  return new Set(
    Object.values(task.args)
      .filter(isRefArg)
      .map((a) => a.ref),
  );
}

interface Context {
  spec: Spec;
  graphName: string;
  graph: SignatureCheckGraph;
  /** Undefined when unknown: required parameters are then not checked. */
  config: Set<string> | undefined;
}

function problemsOf(
  ctx: Context,
  name: string,
  task: SignatureCheckTask,
  sig: PythonSignature,
): Diagnostic[] {
  const { spec, graphName } = ctx;
  const fn = task.spec.function ?? task.spec.name;
  const where = `${task.spec.file}:${sig.line}`;
  const base = { path: `graphs.${graphName}.tasks.${name}`, location: task.location };
  const out: Diagnostic[] = [];
  const deps = depsPassedByName(task, ctx.graph);
  const provided = new Set([
    ...(task.spec.mapOver ?? []),
    ...deps,
    ...Object.keys(task.args),
    ...(ctx.config ?? []),
    ...RUNNER_NAMES,
  ]);
  const missing = sig.params.filter(
    (p) =>
      ctx.config !== undefined &&
      !p.kind.startsWith("var-") &&
      !p.hasDefault &&
      !provided.has(p.name),
  );
  for (const p of missing) {
    out.push({
      ...base,
      severity: "error",
      kind: "missing-task-argument",
      message: `${where}: ${fn}() requires parameter "${p.name}", which nothing passes in graph "${graphName}" (no dependency result, arg, config key or item variable has that name).`,
      hint: `give it a default (\`${p.name}=None\`), pass it with \`args: {${p.name}: …}\` on the task or its graph entry, add \`${p.name}\` to config, or depend on a task named ${p.name} with \`cache_result: true\``,
    });
  }
  const takesAll = sig.params.some((p) => p.kind === "var-keyword");
  const accepts = new Set(sig.params.filter((p) => !p.kind.startsWith("var-")).map((p) => p.name));
  const aliased = aliasedDeps(task);
  const unaccepted = deps.filter((dep) => !accepts.has(dep) && !aliased.has(dep));
  for (const d of takesAll ? [] : unaccepted) {
    // kptn passes a cached dependency result as a keyword, so its call fails; dagwright binds by
    // name and leaves an unaccepted result out.
    const kptn = spec.format === "kptn";
    out.push({
      ...base,
      severity: kptn ? "error" : "warning",
      kind: "unaccepted-dependency-result",
      message: `${where}: ${fn}() has no parameter "${d}" and no **kwargs, but "${d}" caches its result (cache_result), which is passed to it under that name${kptn ? " (kptn calls it with that keyword, which fails)" : " and would be dropped"}.`,
      hint: `add a parameter \`${d}\` (or \`**kwargs\`) to ${fn}(), pass the result under another name with \`args: {name: {ref: ${d}}}\`, or drop the dependency on ${d}`,
    });
  }
  return out;
}

/** What {@link checkTaskSignatures} needs from its caller. */
export interface TaskSignatureIo {
  /** The text of a file by absolute path, or undefined when it cannot be read. */
  readText(absPath: string): string | undefined;
}

/**
 * Checks, without running Python, that each Python function task of each graph can be called
 * the way the runner (runtime/dagwright_task.py `bind`) will call it: an error for a required
 * parameter that no dependency result, arg, config key (of any environment), item variable of
 * `map_over`, `pipeline_config` or `runtime_config` fills (not checked when a top-level config
 * `include:` makes the keys unknown); and for a cached dependency result the
 * function cannot accept (no such parameter, no `**kwargs`) an error in kptn.yaml (kptn passes
 * it as a keyword) and a warning in dagwright.yaml (dagwright drops it). Scripts, decorated
 * functions (a decorator may change the signature), names not bound by a single top-level `def`
 * and unreadable files are skipped. Each diagnostic names the function's file:line and sits at
 * the task's graph entry; one problem shared by several graphs is reported once.
 */
export function checkTaskSignatures(
  spec: Spec,
  graphs: Record<string, SignatureCheckGraph>,
  io: TaskSignatureIo,
): Diagnostic[] {
  const signatures = new Map<string, PythonSignature | SignatureSkip | undefined>();
  const signatureOf = (task: TaskSpec): PythonSignature | undefined => {
    const fn = task.function ?? task.name;
    const key = `${task.file}\0${fn}\0${task.functionExplicit}`;
    if (!signatures.has(key)) {
      const text = io.readText(path.join(spec.root, task.file!));
      const entry =
        text === undefined
          ? undefined
          : pythonEntryOf(scanPythonModule(text), fn, task.functionExplicit);
      signatures.set(key, entry === "function" ? pythonSignature(text!, fn) : undefined);
    }
    const sig = signatures.get(key);
    return typeof sig === "object" ? sig : undefined;
  };
  const out: Diagnostic[] = [];
  const said = new Set<string>();
  for (const [graphName, graph] of Object.entries(graphs)) {
    const ctx: Context = { spec, graphName, graph, config: configNames(spec, graphName) };
    for (const [name, task] of Object.entries(graph.tasks)) {
      const t = task.spec;
      if (t.kind !== "python" || t.file === undefined || t.file.includes("${")) continue;
      const sig = signatureOf(t);
      if (sig === undefined) continue;
      for (const d of problemsOf(ctx, name, task, sig)) {
        const loc = d.location;
        const key = `${d.kind}\0${d.message.replace(/in graph "[^"]*"/u, "")}\0${loc?.file}:${loc?.line}:${loc?.column}`;
        if (said.has(key)) continue;
        said.add(key);
        out.push(d);
      }
    }
  }
  return out;
}
