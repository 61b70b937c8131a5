import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../helpers.js";

// The package as a user gets it: `npm pack` of the built tree (without rebuilding it under the
// other tests' feet), installed into an empty project from the npm cache or registry. Slow: the
// install builds better-sqlite3 when no prebuilt binary fits.
const INSTALL_MS = 600_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment minus what an enclosing `npm run`/`npx` set for itself (npm_config_*, …). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")),
  );
  return { ...env, NO_COLOR: "1", ...extra };
}

/**
 * Runs a command without blocking this process: a minutes-long spawnSync starves the test
 * worker's messages to vitest, which then reports a timeout.
 */
function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  return new Promise<Result>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(env), timeout: INSTALL_MS });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `npx dagwright …` as a user types it; `--no` so a missing bin fails instead of downloading. */
function dagwright(args: string[], cwd: string, env: Record<string, string> = {}) {
  return sh("npx", ["--no", "dagwright", ...args], cwd, env);
}

async function ok(pending: Promise<Result>): Promise<Result> {
  const r = await pending;
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe("the npm package, installed into an empty project", () => {
  let tmp: string;
  let project: string;
  let packed: string[];

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "dagwright-pack-"));
    const pack = await ok(
      sh("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], REPO),
    );
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    packed = info!.files.map((f) => f.path);
    project = path.join(tmp, "project");
    mkdirSync(project);
    writeFileSync(
      path.join(project, "package.json"),
      `${JSON.stringify({ name: "user-project", version: "1.0.0", private: true })}\n`,
    );
    await ok(
      sh(
        "npm",
        ["install", path.join(tmp, info!.filename), "--no-audit", "--no-fund", "--prefer-offline"],
        project,
      ),
    );
  }, INSTALL_MS);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("carries its docs and examples but no source maps", () => {
    expect(packed).toContain("docs/running.md");
    expect(packed).toContain("examples/quickstart/dagwright.yaml");
    expect(packed).toContain("dist/index.js");
    expect(packed.filter((f) => f.endsWith(".map"))).toEqual([]);
  });

  it("installs neither pg nor the AWS SDK", () => {
    const modules = path.join(project, "node_modules");
    expect(existsSync(path.join(modules, "dagwright"))).toBe(true);
    expect(existsSync(path.join(modules, "pg"))).toBe(false);
    expect(existsSync(path.join(modules, "@aws-sdk"))).toBe(false);
  });

  it("runs init, then run, through npx as init says", async () => {
    const init = await ok(dagwright(["init"], project));
    expect(init.stdout).toContain("Next: npx dagwright validate && npx dagwright run");
    expect(readFileSync(path.join(project, ".gitignore"), "utf8")).toContain(".dagwright/");
    await ok(dagwright(["validate"], project));
    const run = await ok(dagwright(["run"], project));
    expect(run.stderr).toContain("done: 3 ran");
    expect(existsSync(path.join(project, "out", "report.txt"))).toBe(true);
  });

  it("prints its bundled docs", async () => {
    const r = await ok(dagwright(["docs", "running"], project));
    expect(r.stdout).toBe(readFileSync(path.join(REPO, "docs", "running.md"), "utf8"));
  });

  it("names the package to install when PostgreSQL state is used without pg", async () => {
    const r = await dagwright(["status"], project, {
      DAGWRIGHT_STATE_URL: "postgres://127.0.0.1:1/x",
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "error: a PostgreSQL state store (DAGWRIGHT_STATE_URL=postgres://…) needs the npm package pg",
    );
    expect(r.stderr).toContain("npm install pg");
    expect(r.stderr).not.toContain("internal error");
  });

  it("names the package to install when S3 artifacts are used without the AWS SDK", async () => {
    const r = await dagwright(["run", "--force"], project, {
      DAGWRIGHT_ARTIFACTS_URL: "s3://bucket/prefix",
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("npm install @aws-sdk/client-s3");
  });

  it("names the package to install when SQL tasks are used without @duckdb/node-api", async () => {
    expect(existsSync(path.join(project, "node_modules", "@duckdb"))).toBe(false);
    const sqlProject = path.join(project, "sql-project");
    mkdirSync(sqlProject);
    writeFileSync(
      path.join(sqlProject, "dagwright.yaml"),
      "graphs:\n  g:\n    tasks:\n      load:\ntasks:\n  load:\n    file: load.sql\n",
    );
    writeFileSync(path.join(sqlProject, "load.sql"), "create table t as select 1 as x;\n");
    const r = await dagwright(["run"], sqlProject);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "error: the npm package @duckdb/node-api is not installed (DuckDB tasks: load); nothing was run",
    );
    expect(r.stderr).toContain("npm install @duckdb/node-api");
  });

  it("is importable by name as a typed ES module library", async () => {
    const code =
      'import { buildGraph, loadSpec } from "dagwright";\n' +
      "const order: string[] = buildGraph(loadSpec({ cwd: process.cwd() }), 'main').order;\n" +
      "console.log(order.join(','));\n";
    writeFileSync(path.join(project, "use.mts"), code);
    const tsc = path.join(REPO, "node_modules", "typescript", "bin", "tsc");
    const flags = ["--module", "nodenext", "--strict", "--skipLibCheck", "--types", "node"];
    const typeRoots = ["--typeRoots", path.join(REPO, "node_modules", "@types")];
    await ok(
      sh(process.execPath, [tsc, ...flags, ...typeRoots, "--outDir", "built", "use.mts"], project),
    );
    const r = await ok(sh(process.execPath, [path.join("built", "use.mjs")], project));
    expect(r.stdout).toBe("extract,stats,report\n");
  });

  it("opens the project and runs it from code through the packed library", async () => {
    const code = [
      'import { openProject, type RunEvent } from "dagwright";',
      "const project = await openProject(process.cwd());",
      "try {",
      "  const events: RunEvent[] = [];",
      "  const run = await project.run({}, { observer: (e) => events.push(e) });",
      "  const { tasks } = await project.status();",
      "  console.log(run.status, tasks.map((t) => `${t.task}:${t.state}`).join(','));",
      "} finally {",
      "  await project.close();",
      "}",
      "",
    ].join("\n");
    writeFileSync(path.join(project, "run.mts"), code);
    const tsc = path.join(REPO, "node_modules", "typescript", "bin", "tsc");
    const flags = ["--module", "nodenext", "--target", "es2022", "--strict", "--skipLibCheck"];
    const typeRoots = ["--types", "node", "--typeRoots", path.join(REPO, "node_modules", "@types")];
    await ok(
      sh(process.execPath, [tsc, ...flags, ...typeRoots, "--outDir", "built", "run.mts"], project),
    );
    const r = await ok(sh(process.execPath, [path.join("built", "run.mjs")], project));
    expect(r.stdout).toBe("succeeded extract:fresh,stats:fresh,report:fresh\n");
  });
});
