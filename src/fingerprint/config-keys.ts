import path from "node:path";
import type { TaskSpec } from "../spec/types.js";
import { sqlConfigKeys } from "./duckdb-config-keys.js";
import { FileMemo } from "./file-memo.js";
import type { FsSnapshot } from "./fs-snapshot.js";
import { nodeConfigKeys } from "./node-config-keys.js";
import { type ConfigKeys, pythonConfigKeys } from "./python-config-keys.js";

export type { ConfigKeys } from "./python-config-keys.js";

/** Answers per file and function for the life of the process, revalidated by size and mtime. */
const scanned = new FileMemo<ConfigKeys>();

function scanFile(
  fs: FsSnapshot,
  abs: string,
  fn: string,
  read: (source: string, fn: string) => ConfigKeys,
): ConfigKeys {
  const compute = (source: string): ConfigKeys => {
    try {
      return read(source, fn);
    } catch {
      return "all";
    }
  };
  return scanned.get(fs, abs, compute, `${abs}\0${fn}`) ?? "all";
}

/**
 * The config keys a task's result can depend on (DESIGN.md "Fingerprint"): for a Python function
 * task, its function's parameter names; for a TS/JS function task, the keys its first parameter
 * destructures from `config`; for a SQL task, its `$name` parameters; `"all"` for every other
 * task (scripts, R, shell, commands) and whenever the function's signature cannot be read for
 * sure (see {@link pythonConfigKeys} and {@link nodeConfigKeys}). Reads the task's file through `fs` (paths relative to its root);
 * never throws.
 */
export function configKeysOf(fs: FsSnapshot, task: TaskSpec): ConfigKeys {
  if (task.file === undefined || task.command !== undefined) return "all";
  const fn = task.function ?? task.name;
  const abs = path.resolve(fs.root, task.file);
  if (task.kind === "python") return scanFile(fs, abs, fn, pythonConfigKeys);
  if (task.kind === "node") return scanFile(fs, abs, fn, nodeConfigKeys);
  if (task.kind === "sql") return scanFile(fs, abs, "", sqlConfigKeys);
  return "all";
}
