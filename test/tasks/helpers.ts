import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import type { TaskSpec } from "../../src/spec/types.js";
import type { LaunchRequest } from "../../src/tasks/launch-task.js";

export { makeTask } from "../helpers.js";

/** A temp project: write files into it, build launch requests against it. Removed after the file. */
export function tempProject(prefix: string) {
  const root = mkdtempSync(path.join(os.tmpdir(), `dagwright-${prefix}-`));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let logs = 0;
  return {
    root,
    write(rel: string, text: string): string {
      const file = path.join(root, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    read(rel: string): string {
      return readFileSync(path.join(root, rel), "utf8");
    },
    /** A request with empty inputs and a fresh log file. */
    request(task: TaskSpec, extra: Partial<LaunchRequest> = {}): LaunchRequest {
      return {
        task,
        root,
        inputs: { deps: {}, args: {}, config: {} },
        env: {},
        scratchDir: path.join(root, "scratch"),
        logPath: path.join(root, "logs", `${task.name}-${++logs}.log`),
        ...extra,
      };
    },
  };
}

/** Pids of live processes whose argv is exactly `argv` (zombies have none). */
export function findProcesses(argv: readonly string[]): number[] {
  const want = `${argv.join("\0")}\0`;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8") === want) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Polls `check` until it holds or `ms` pass; returns its last value. */
export async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
