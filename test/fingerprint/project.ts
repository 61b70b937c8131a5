import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeTask } from "../helpers.js";

/** A fresh temp directory holding `files` (project-relative path → content). */
export function tempProject(files: Record<string, string> = {}): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dagwright-fp-"));
  writeFiles(root, files);
  return root;
}

export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  }
}

/** A normalized task with defaults filled, overridden by `over`. */
export const taskOf = makeTask;
