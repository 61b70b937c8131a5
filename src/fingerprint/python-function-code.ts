import { type PythonModuleFacts, scanPythonModule } from "../spec/python-module-facts.js";
import { hashString } from "./hash-string.js";
import { scanTopLevel, type TopStatement } from "./python-top-level.js";

/**
 * The code one Python function depends on inside its own module, or why the whole module must
 * count instead. `pieces` maps a piece key to the hash of its source text:
 * `function helper`, `class Model`, `name RATE` (an assignment; `name A, B` when it binds several),
 * and `imports` (the import statements binding names the closure references).
 */
export type FunctionClosure =
  | {
      pieces: Readonly<Record<string, string>>;
      /**
       * Source whose import statements name the project modules that count: every top-level
       * import (importing a module runs it) and the imports inside the closure's definitions.
       */
      importSource: string;
    }
  | { conservative: string };

/** A module scanned once per content: its statements, facts, and closures asked for so far. */
export interface PythonFunctionModule {
  /** What decides whether a task runs a function or the file as a script (check-task-functions). */
  facts: PythonModuleFacts;
  /** Why no function of this module can be fingerprinted alone, if that is so. */
  wholeModule: string | undefined;
  /** The closure of top-level function `fn` (computed once per module and name). */
  closureOf(fn: string): FunctionClosure;
}

const ID = String.raw`[\p{L}_][\p{L}\p{N}_]*`;
const REFERENCE = new RegExp(`(\\.\\s*)?(?<![\\p{L}\\p{N}_])(${ID})`, "gu");
const DYNAMIC =
  /(?<![.\p{L}\p{N}_])(?:globals|locals|vars|exec|eval|setattr|delattr|__import__)\s*\(|(?<![.\p{L}\p{N}_])sys\s*\.\s*modules(?![\p{L}\p{N}_])|__dict__/u;
const GETATTR = new RegExp(`(?<![.\\p{L}\\p{N}_])getattr\\s*\\(\\s*(${ID})\\s*,`, "gu");
const GLOBAL = new RegExp(`(?:^|[\\n:;])\\s*global\\s+${ID}`, "u");

function pieceKey(s: TopStatement): string {
  if (s.kind === "def") return `function ${s.names[0]}`;
  if (s.kind === "class") return `class ${s.names[0]}`;
  return `name ${s.names.join(", ")}`;
}

/** Why the module's top level may run code or look names up at run time; undefined if it does not. */
function wholeModuleReason(statements: readonly TopStatement[]): string | undefined {
  for (const s of statements) {
    if (s.kind === "code") return `top-level code at line ${s.line}`;
    if (s.kind === "star") return `star import at line ${s.line}`;
  }
  const imported = new Set(statements.filter((s) => s.kind === "import").flatMap((s) => s.names));
  for (const s of statements) {
    if (GLOBAL.test(s.code)) return `a global statement in the statement at line ${s.line}`;
    if (DYNAMIC.test(s.code)) return `a dynamic name lookup at line ${s.line}`;
    for (const m of s.code.matchAll(GETATTR))
      if (imported.has(m[1]!)) return `getattr on module ${m[1]} at line ${s.line}`;
  }
  if (statements.some((s) => s.names.includes("__getattr__"))) return "a module-level __getattr__";
  return undefined;
}

function referencesOf(s: TopStatement): string[] {
  const out: string[] = [];
  for (const m of s.code.matchAll(REFERENCE)) if (m[1] === undefined) out.push(m[2]!);
  return out;
}

function closureOf(statements: readonly TopStatement[], fn: string): FunctionClosure {
  const binders = new Map<string, TopStatement[]>();
  for (const s of statements)
    for (const n of s.names) binders.set(n, [...(binders.get(n) ?? []), s]);
  const included = new Set<TopStatement>();
  // What runs on import may change what any function sees, so every closure holds it.
  const pending = [fn, ...statements.filter((s) => s.runsOnImport).flatMap((s) => s.names)];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const found = binders.get(name);
    if (found === undefined) {
      if (name === fn) return { conservative: `${fn} is not bound at the module's top level` };
      continue;
    }
    // Which binding wins would depend on statement order; do not guess.
    if (found.length > 1)
      return { conservative: `${name} is bound more than once at the top level` };
    const s = found[0]!;
    if (included.has(s)) continue;
    included.add(s);
    if (s.kind !== "import") pending.push(...referencesOf(s));
  }
  const pieces: Record<string, string> = {};
  const imports: string[] = [];
  const importSource: string[] = [];
  for (const s of statements) {
    if (s.kind === "import") importSource.push(s.text);
    if (!included.has(s)) continue;
    if (s.kind === "import") imports.push(s.text);
    else {
      pieces[pieceKey(s)] = hashString(s.text);
      importSource.push(s.text);
    }
  }
  if (imports.length > 0) pieces.imports = hashString(imports.join("\n"));
  return { pieces: Object.freeze(pieces), importSource: importSource.join("\n") };
}

/**
 * Scans a Python module for function-level fingerprints. The rule: a function's code is its own
 * definition (decorators, default values, annotations, nested functions and lambdas included)
 * plus every top-level `def`, `class` or simple assignment it names, plus every one whose
 * evaluation on import may have effects (see `runsOnImport` in python-import-effects.ts: a
 * registering decorator, a value that calls something, …), transitively, plus the import
 * statements binding names they use. Any name in the text counts (a local that shadows a
 * module name over-includes, never under-includes). The whole module counts instead
 * (`conservative`) when its top level runs code on import (any statement other than
 * def/class/import/simple assignment, a docstring or a main guard), has a star import, a
 * `global` statement, a dynamic lookup (`globals()`, `locals()`, `vars()`, `exec`, `eval`,
 * `setattr`, `__import__`, `sys.modules`, `__dict__`, `getattr` on an imported module, a module
 * `__getattr__`), or binds a name the closure needs more than once.
 */
export function scanPythonFunctions(source: string): PythonFunctionModule {
  const statements = scanTopLevel(source);
  const wholeModule = wholeModuleReason(statements);
  const closures = new Map<string, FunctionClosure>();
  return {
    facts: scanPythonModule(source),
    wholeModule,
    closureOf(fn) {
      if (wholeModule !== undefined) return { conservative: wholeModule };
      let c = closures.get(fn);
      if (c === undefined) {
        c = closureOf(statements, fn);
        closures.set(fn, c);
      }
      return c;
    },
  };
}
