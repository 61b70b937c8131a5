import path from "node:path";
import { pythonEntryOf } from "../spec/check-task-functions.js";
import type { TaskSpec } from "../spec/types.js";
import type { CodeScanner, ScanContext } from "./code-scanner.js";
import { isDeclaredPath } from "./declared-paths.js";
import { FileMemo } from "./file-memo.js";
import { type FsSnapshot, snapshotFor } from "./fs-snapshot.js";
import { nodeScanner } from "./node-imports.js";
import { type PythonFunctionModule, scanPythonFunctions } from "./python-function-code.js";
import { parsePythonImports, pythonScanner } from "./python-imports.js";
import { rScanner } from "./r-sources.js";
import { shellScanner } from "./shell-sources.js";

type Resolver = (fromFile: string, ctx: ScanContext) => string[];

// The generic parameter is erased behind a closure so one table can hold every language.
function bind<R>(scanner: CodeScanner<R>): (source: string) => Resolver {
  return (source) => {
    const refs = scanner.parse(source);
    return (fromFile, ctx) => scanner.resolve(refs, fromFile, ctx);
  };
}

const SCANNERS: Record<string, (source: string) => Resolver> = {
  ".py": bind(pythonScanner),
  ".r": bind(rScanner),
  ".ts": bind(nodeScanner),
  ".tsx": bind(nodeScanner),
  ".mts": bind(nodeScanner),
  ".cts": bind(nodeScanner),
  ".js": bind(nodeScanner),
  ".jsx": bind(nodeScanner),
  ".mjs": bind(nodeScanner),
  ".cjs": bind(nodeScanner),
  ".sh": bind(shellScanner),
  ".bash": bind(shellScanner),
};

/** Parsed references per file for the life of the process, revalidated by size and mtime. */
const parsedFiles = new FileMemo<Resolver>();

function referencesOf(fs: FsSnapshot, abs: string): Resolver | undefined {
  const scan = SCANNERS[path.extname(abs).toLowerCase()];
  return scan === undefined ? undefined : parsedFiles.get(fs, abs, scan);
}

/**
 * The program a command runs, when it is a project file: `sh tasks/x.sh`, `./run.py`. The caller
 * drops words naming the task's declared outputs and inputs (`touch o/x`, `sqlite3 db.sqlite`).
 */
function commandFiles(task: TaskSpec): string[] {
  if (task.command === undefined) return [];
  // A shell string is split on blanks only: good enough to spot `python3 x.py`, and a wrong
  // guess costs nothing because the file must exist in the project to count.
  const argv =
    "argv" in task.command
      ? task.command.argv
      : task.command.shell
          .trim()
          .split(/\s+/u)
          .map((w) => w.replace(/^(["'])(.*)\1$/u, "$2"));
  const out: string[] = [];
  const [first, second] = argv;
  // A bare name (`python3`) is looked up on PATH, so only a word with a slash is a local file.
  if (first?.includes("/")) out.push(first);
  if (second !== undefined && !second.startsWith("-")) out.push(second);
  return out;
}

/**
 * The code a task's result depends on: its own file and every local file it imports or sources,
 * transitively, as sorted project-relative POSIX paths. Languages are chosen by extension
 * (Python, R, TS/JS, shell; see each scanner for the exact rules); other files are included but
 * not read. A `command` task counts its program when `argv[0]` (with a slash) or `argv[1]` names
 * an existing project file that is not one of the task's declared outputs or inputs (outputs are
 * relative to `outputsDir`, the project root by default; see {@link isDeclaredPath}). References
 * that are missing, third-party, dynamic or outside the root are ignored; import cycles are fine.
 * Never throws for unreadable or missing files.
 *
 * Each source file is parsed once per process and content (size + mtime); directory listings are
 * cached the same way. Pass one `snapshot` for all tasks of a pass so shared helpers are stat'ed
 * and resolved once (see {@link FsSnapshot}); its root must be `root`.
 *
 * @throws Error only if `snapshot` belongs to another root.
 */
export async function findCodeFiles(
  root: string,
  task: TaskSpec,
  settings: { pyTasksDirs: string[]; rTasksDirs: string[] },
  snapshot?: FsSnapshot,
  outputsDir: string = root,
): Promise<string[]> {
  const fs = snapshotFor(root, snapshot);
  const ctx = contextFor(fs, settings);
  const isCommand = task.kind === "command";
  const seeds = isCommand ? commandFiles(task) : task.file ? [task.file] : [];
  const bases = { root: fs.root, outputsDir: path.resolve(outputsDir) };
  const seen = new Set<string>();
  const stack: string[] = [];
  for (const s of seeds) {
    const abs = path.resolve(fs.root, s);
    // Data the command reads or writes may exist and change every run; it is never its program.
    if (isCommand && isDeclaredPath(task, bases, abs)) continue;
    if (fs.isFile(abs)) stack.push(abs);
  }
  while (stack.length > 0) {
    const abs = stack.pop()!;
    if (seen.has(abs)) continue;
    seen.add(abs);
    for (const dep of ctx.depsOf(abs)) if (!seen.has(dep)) stack.push(dep);
  }
  return [...seen].map((abs) => fs.relative(abs)).sort();
}

/** Function-level scans of Python task files, per file content. */
const functionModules = new FileMemo<PythonFunctionModule>();

/** The code of a Python function task, in pieces: see {@link findPythonFunctionCode}. */
export interface PythonFunctionCodeParts {
  /** `file::piece` (e.g. `tasks/clean.py::function helper`) → hash of that piece's source. */
  pieces: Readonly<Record<string, string>>;
  /** Project modules the function's module imports, transitively, hashed as whole files. */
  files: string[];
}

/**
 * The code of a Python function task, piece by piece (the rule is {@link scanPythonFunctions}'s):
 * undefined when the task is not a Python function task (a script, another language, a file
 * with `${…}` or one that cannot be read) or when its module must count as a whole; the caller
 * then hashes files with {@link findCodeFiles}. Imported project modules count as whole files,
 * resolved and followed exactly as {@link findCodeFiles} does. Never throws for unreadable files.
 *
 * @throws Error only if `snapshot` belongs to another root.
 */
export function findPythonFunctionCode(
  root: string,
  task: TaskSpec,
  settings: { pyTasksDirs: string[]; rTasksDirs: string[] },
  snapshot?: FsSnapshot,
): PythonFunctionCodeParts | undefined {
  const file = task.file;
  if (task.kind !== "python" || file === undefined || file.includes("${")) return undefined;
  if (path.extname(file).toLowerCase() !== ".py") return undefined;
  const fs = snapshotFor(root, snapshot);
  const abs = path.resolve(fs.root, file);
  const module = functionModules.get(fs, abs, scanPythonFunctions);
  if (module === undefined) return undefined;
  const fn = task.function ?? task.name;
  if (pythonEntryOf(module.facts, fn, task.functionExplicit) !== "function") return undefined;
  const closure = module.closureOf(fn);
  if ("conservative" in closure) return undefined;
  const ctx = contextFor(fs, settings);
  const seen = new Set<string>();
  const stack = pythonScanner.resolve(parsePythonImports(closure.importSource), abs, ctx);
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const dep of ctx.depsOf(next)) if (!seen.has(dep)) stack.push(dep);
  }
  const rel = fs.relative(abs);
  const pieces: Record<string, string> = {};
  for (const [key, hash] of Object.entries(closure.pieces)) pieces[`${rel}::${key}`] = hash;
  return { pieces, files: [...seen].map((f) => fs.relative(f)).sort() };
}

interface Context extends ScanContext {
  /** Direct local dependencies of a file, resolved once per snapshot. */
  depsOf(abs: string): readonly string[];
}

/** One context per snapshot and settings, so a shared snapshot also shares resolutions. */
const contexts = new WeakMap<FsSnapshot, Map<string, Context>>();

function contextFor(
  fs: FsSnapshot,
  settings: { pyTasksDirs: string[]; rTasksDirs: string[] },
): Context {
  const key = JSON.stringify([settings.pyTasksDirs, settings.rTasksDirs]);
  let byKey = contexts.get(fs);
  if (byKey === undefined) {
    byKey = new Map();
    contexts.set(fs, byKey);
  }
  const existing = byKey.get(key);
  if (existing !== undefined) return existing;
  const dirs = (list: string[]) =>
    list.map((d) => path.resolve(fs.root, d)).filter((d) => fs.inside(d));
  const deps = new Map<string, readonly string[]>();
  const memos = new Map<string, readonly string[]>();
  const ctx: Context = {
    fs,
    pyTasksDirs: dirs(settings.pyTasksDirs),
    rTasksDirs: dirs(settings.rTasksDirs),
    memo(key, compute) {
      let hit = memos.get(key);
      if (hit === undefined) {
        hit = compute();
        memos.set(key, hit);
      }
      return hit;
    },
    depsOf(abs) {
      let d = deps.get(abs);
      if (d === undefined) {
        d = referencesOf(fs, abs)?.(abs, ctx) ?? [];
        deps.set(abs, d);
      }
      return d;
    },
  };
  byKey.set(key, ctx);
  return ctx;
}
