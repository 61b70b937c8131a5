import { copyFileSync, existsSync, rmSync } from "node:fs";
import path from "node:path";
import { takeDatabaseTurn } from "../../spec/duckdb-database.js";

/**
 * Where the checkpoint of `task` is kept: beside the database, named like kptn's,
 * `<stem>.<task>.backup<ext>` (`project.load.backup.duckdb`). Pure.
 */
export function checkpointPath(database: string, task: string): string {
  const ext = path.extname(database) || ".ddb";
  const stem = path.basename(database, path.extname(database));
  const safe = task.replace(/[^A-Za-z0-9_-]/g, "-").replace(/^-+|-+$/g, "") || "task";
  return path.join(path.dirname(database), `${stem}.${safe}.backup${ext}`);
}

/**
 * Copies the database (closed by everyone in this process meanwhile) to the checkpoint of `task`,
 * replacing an earlier one, and returns the checkpoint's path; undefined when there is no
 * database file yet. A write-ahead log left by another process is copied beside it.
 */
export async function saveCheckpoint(database: string, task: string): Promise<string | undefined> {
  const release = await takeDatabaseTurn(database);
  try {
    if (!existsSync(database)) return undefined;
    const target = checkpointPath(database, task);
    copyWithLog(database, target);
    return target;
  } finally {
    release();
  }
}

/**
 * Puts the checkpoint of `task` back as the database (its write-ahead log with it, or none);
 * returns the checkpoint's path, or undefined when `task` has none.
 */
export async function restoreCheckpoint(
  database: string,
  task: string,
): Promise<string | undefined> {
  const source = checkpointPath(database, task);
  if (!existsSync(source)) return undefined;
  const release = await takeDatabaseTurn(database);
  try {
    copyWithLog(source, database);
    return source;
  } finally {
    release();
  }
}

/** Copies a database file with its write-ahead log, or with none when `from` has none. */
function copyWithLog(from: string, to: string): void {
  copyFileSync(from, to);
  if (existsSync(`${from}.wal`)) copyFileSync(`${from}.wal`, `${to}.wal`);
  else rmSync(`${to}.wal`, { force: true });
}

/**
 * Resumes from a checkpoint when the database file is gone (deleted, or a fresh checkout that
 * kept the checkpoints): the checkpoint of the last task in `order` (a topological order) that has
 * one becomes the database. Tasks whose tables it holds with their recorded content are then
 * fresh, and the others rerun, as their recorded outputs decide. Returns the task whose
 * checkpoint was restored; undefined when the database exists or no checkpoint does.
 */
export async function restoreMissingDatabase(
  database: string,
  order: readonly { name: string; duckdbCheckpoint?: boolean }[],
): Promise<string | undefined> {
  if (existsSync(database)) return undefined;
  for (let i = order.length - 1; i >= 0; i--) {
    const task = order[i]!;
    if (task.duckdbCheckpoint && (await restoreCheckpoint(database, task.name)) !== undefined)
      return task.name;
  }
  return undefined;
}
