import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TaskSpec } from "../../src/spec/types.js";

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
export function taskOf(over: Partial<TaskSpec> & Pick<TaskSpec, "name" | "kind">): TaskSpec {
  return {
    functionExplicit: false,
    outputs: [],
    inputs: [],
    args: {},
    cacheResult: false,
    cache: true,
    compute: {},
    tags: [],
    retries: 0,
    env: {},
    secrets: [],
    location: { file: "dagwright.yaml", line: 1, column: 1 },
    ...over,
  };
}
