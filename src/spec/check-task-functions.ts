import path from "node:path";
import type { Diagnostic, SourceLocation } from "./diagnostic.js";
import { closest, didYouMean } from "./did-you-mean.js";
import { type PythonModuleFacts, scanPythonModule } from "./python-module-facts.js";
import type { Spec, TaskSpec } from "./types.js";

/**
 * How a Python task file runs, by the one rule `validate` and the Python runner
 * (runtime/dagwright_task.py `entry_of`) share:
 * - `x.py:fn` calls `fn`; it is `missing` when the module binds no top-level name `fn`;
 * - `x.py` calls the function named after the task when the module binds that name; otherwise it
 *   runs as a `script` when the module defines no top-level function or has an
 *   `if __name__ == "__main__":` block, and is `ambiguous` (an error) when it defines functions but
 *   none of them is the task's: running it would only define them.
 */
export type PythonEntry = "function" | "script" | "missing" | "ambiguous";

/** Applies the rule of {@link PythonEntry} to a scanned module. */
export function pythonEntryOf(
  facts: PythonModuleFacts,
  fn: string,
  explicit: boolean,
): PythonEntry {
  if (facts.bound.has(fn) || facts.starImport) return "function";
  // An explicit name is looked up with getattr at run time, so a name bound at run time works.
  if (explicit) return facts.dynamic ? "function" : "missing";
  return facts.functions.length === 0 || facts.mainGuard ? "script" : "ambiguous";
}

/** What {@link checkTaskFunctions} needs from its caller. */
export interface TaskFunctionIo {
  /** The text of a file by absolute path, or undefined when it cannot be read. */
  readText(absPath: string): string | undefined;
  /** Where the task's `file:` value is written, for the diagnostic. */
  locate(task: TaskSpec): SourceLocation | undefined;
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 8).join(", ");
  return names.length > 8 ? `${shown}, …` : shown;
}

function problemOf(task: TaskSpec, file: string, facts: PythonModuleFacts): Diagnostic | undefined {
  const fn = task.function ?? task.name;
  const entry = pythonEntryOf(facts, fn, task.functionExplicit);
  if (entry === "function" || entry === "script") return undefined;
  const funcs = facts.functions;
  const base = { severity: "error" as const, path: `tasks.${task.name}.file` };
  if (entry === "missing") {
    return {
      ...base,
      kind: "function-not-found",
      message: `${file} defines no top-level function "${fn}".${didYouMean(fn, funcs)}`,
      hint:
        funcs.length > 0
          ? `its functions are ${listNames(funcs)}; name one of them after the colon, e.g. \`file: ${file}:${funcs[0]}\``
          : `define \`def ${fn}(...)\` at the top level of ${file}, or write \`file: ${file}\` to run it as a script`,
    };
  }
  const suggestion = didYouMean(fn, funcs);
  const pick = closest(fn, funcs) ?? funcs[0]!;
  return {
    ...base,
    kind: "task-function-not-found",
    message:
      `${file} defines functions (${listNames(funcs)}) but none named after the task "${fn}", and has no ` +
      `\`if __name__ == "__main__":\` block, so running it would only define them.${suggestion}`,
    hint: `name the function to call, \`file: ${file}:${pick}\`, or add an \`if __name__ == "__main__":\` block to run the file as a script`,
  };
}

/**
 * Checks that every Python file task has something to run, by the rule of {@link PythonEntry}:
 * one error per task whose named function is missing or whose module would run as a script that
 * only defines functions. Pure apart from `io.readText`; files it cannot read are skipped (a
 * missing file is reported by normalization). Each file is read and scanned once per call.
 */
export function checkTaskFunctions(spec: Spec, io: TaskFunctionIo): Diagnostic[] {
  const scanned = new Map<string, PythonModuleFacts | undefined>();
  const out: Diagnostic[] = [];
  for (const task of Object.values(spec.tasks)) {
    if (task.kind !== "python" || task.file === undefined || task.file.includes("${")) continue;
    const abs = path.join(spec.root, task.file);
    if (!scanned.has(abs)) {
      const text = io.readText(abs);
      scanned.set(abs, text === undefined ? undefined : scanPythonModule(text));
    }
    const facts = scanned.get(abs);
    if (facts === undefined) continue;
    const problem = problemOf(task, task.file, facts);
    if (problem === undefined) continue;
    const location = io.locate(task);
    out.push(location === undefined ? problem : { ...problem, location });
  }
  return out;
}
