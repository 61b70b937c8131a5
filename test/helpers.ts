import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { checkAllGraphs } from "../src/graph/build-graph.js";
import { formatDiagnostic } from "../src/spec/diagnostic.js";
import { loadSpecWithDiagnostics, sortDiagnostics } from "../src/spec/load-spec.js";
import type { TaskSpec } from "../src/spec/types.js";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BIN = path.join(REPO, "bin", "dagwright.cjs");

/** Creates a temp project with the given files (path → content); returns its directory. */
export function makeProject(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-test-"));
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return dir;
}

/** Runs the real binary; never throws on a non-zero exit. */
export function runCli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The newline-delimited JSON events a `--json` command printed on stdout. */
export function jsonLines<T>(stdout: string): T[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

/** Validates a spec text the way `dagwright validate` does; returns formatted problems (no hints). */
export function problemsOf(
  yaml: string,
  extraFiles: Record<string, string> = {},
  fileName = "dagwright.yaml",
): string[] {
  const dir = makeProject({ [fileName]: yaml, ...extraFiles });
  const result = loadSpecWithDiagnostics({ cwd: dir });
  const diagnostics = [...result.diagnostics];
  if (result.spec) diagnostics.push(...checkAllGraphs(result.spec, result.broken).diagnostics);
  return sortDiagnostics(diagnostics).map((d) => formatDiagnostic({ ...d, hint: undefined }));
}

/** The hints of the problems, in the same order as {@link problemsOf}. */
export function hintsOf(
  yaml: string,
  extraFiles: Record<string, string> = {},
): (string | undefined)[] {
  const dir = makeProject({ "dagwright.yaml": yaml, ...extraFiles });
  const result = loadSpecWithDiagnostics({ cwd: dir });
  const diagnostics = [...result.diagnostics];
  if (result.spec) diagnostics.push(...checkAllGraphs(result.spec, result.broken).diagnostics);
  return sortDiagnostics(diagnostics).map((d) => d.hint);
}

/**
 * Like {@link runCli}, without blocking this process: needed when the test itself serves the
 * CLI (an in-process S3 server would deadlock behind spawnSync).
 */
export function runCliAsync(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A normalized task with every default filled; `overrides` say what the test is about. */
export function makeTask(overrides: Partial<TaskSpec> & Pick<TaskSpec, "name" | "kind">): TaskSpec {
  return {
    functionExplicit: false,
    outputs: [],
    inPlaceOutputs: [],
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
    ...overrides,
  };
}
