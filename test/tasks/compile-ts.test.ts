import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { COMPILE_FORMAT, cacheDirOf, compileStats, compileTs } from "../../src/tasks/compile-ts.js";
import { NodeWorkerPool, type WorkerOutcome } from "../../src/tasks/node-worker-pool.js";
import { tempProject } from "./helpers.js";

// Worker threads load runtime/node-task-worker.mjs, which compiles through dist/ (npm run build).
const project = tempProject("compile");
project.write("dagwright.yaml", "tasks: {}\n");
const cache = cacheDirOf(project.root);

const pools: NodeWorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.shutdown()));
});

function newPool(size = 1): NodeWorkerPool {
  const pool = new NodeWorkerPool(size);
  pools.push(pool);
  return pool;
}

/** One call of `fn` in `rel` on `pool` (a new one by default), with its log. */
async function call(
  rel: string,
  fn: string,
  pool = newPool(),
  input: Record<string, unknown> = {},
): Promise<WorkerOutcome & { log: string }> {
  let log = "";
  const out = await pool.run({
    task: fn,
    url: pathToFileURL(path.join(project.root, rel)).href,
    display: rel,
    fn,
    input,
    env: {},
    onLog: (text) => {
      log += text;
    },
  });
  return { ...out, log };
}

/** The manifest and compiled file of a module, by content (the manifest names the output). */
function cacheEntries(): { manifests: string[]; outputs: string[]; other: string[] } {
  const names = existsSync(cache) ? readdirSync(cache) : [];
  return {
    manifests: names.filter((n) => n.endsWith(".json")),
    outputs: names.filter((n) => n.endsWith(".mjs")),
    other: names.filter((n) => !n.endsWith(".json") && !n.endsWith(".mjs")),
  };
}

function manifestOf(rel: string): { file: string; output: string } {
  const entry = path.join(project.root, rel);
  for (const name of cacheEntries().manifests) {
    const m = JSON.parse(readFileSync(path.join(cache, name), "utf8"));
    if (m.entry === entry)
      return { file: path.join(cache, name), output: path.join(cache, m.output) };
  }
  throw new Error(`no manifest for ${rel}`);
}

function identity(file: string): string {
  const s = statSync(file);
  return `${s.ino}:${s.mtimeMs}`;
}

describe("TS task modules compiled into the project cache", () => {
  it("imports other .ts files written ./x.js, ./x.ts and extensionless", async () => {
    project.write("tasks/rel/a.ts", "export const a = (n: number): number => n + 1;\n");
    // A stale build output beside the source: the source wins, as in the fingerprint.
    project.write("tasks/rel/a.js", "export const a = (n) => n + 100;\n");
    project.write("tasks/rel/b.ts", "export const b = (n: number): number => n * 2;\n");
    project.write("tasks/rel/c.ts", "export const c: string = 'c';\n");
    project.write(
      "tasks/rel/main.ts",
      [
        'import { a } from "./a.js";',
        'import { b } from "./b.ts";',
        'import { c } from "./c";',
        "export function main(): string {",
        "  return `${a(1)} ${b(2)} ${c}`;",
        "}",
        "",
      ].join("\n"),
    );
    const r = await call("tasks/rel/main.ts", "main");
    expect(r).toMatchObject({ ended: "returned", result: "2 4 c" });
    const { output } = manifestOf("tasks/rel/main.ts");
    expect(path.dirname(output)).toBe(path.join(project.root, ".dagwright", "cache", "ts"));
  });

  it("gives every file its own import.meta.url, dirname, filename and __dirname", async () => {
    project.write("tasks/meta/data.csv", "x\n1\n2\n");
    project.write("tasks/meta/lib/rows.csv", "only in lib\n");
    project.write(
      "tasks/meta/lib/read.ts",
      [
        'import { readFileSync } from "node:fs";',
        "export const libRows = (): string =>",
        '  readFileSync(new URL("./rows.csv", import.meta.url), "utf8").trim();',
        "export const libDir: string = import.meta.dirname;",
        "",
      ].join("\n"),
    );
    project.write(
      "tasks/meta/main.ts",
      [
        'import { readFileSync } from "node:fs";',
        'import { libDir, libRows } from "./lib/read.js";',
        "export function meta() {",
        '  const data = readFileSync(new URL("./data.csv", import.meta.url), "utf8");',
        "  return { rows: data.trim().split('\\n').length, lib: libRows(), libDir,",
        "    url: import.meta.url, filename: import.meta.filename, dirname: __dirname };",
        "}",
        "",
      ].join("\n"),
    );
    const r = await call("tasks/meta/main.ts", "meta");
    const main = path.join(project.root, "tasks/meta/main.ts");
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual({
      rows: 3,
      lib: "only in lib",
      libDir: path.join(project.root, "tasks/meta/lib"),
      url: pathToFileURL(main).href,
      filename: main,
      dirname: path.dirname(main),
    });
  });

  it("imports packages from the cache as Node resolves them from the source file", async () => {
    // Only an "import" condition: resolving with `require` (or not at all) fails.
    project.write(
      "node_modules/esm-only/package.json",
      JSON.stringify({ name: "esm-only", exports: { ".": { import: "./esm.mjs" } } }),
    );
    project.write(
      "node_modules/esm-only/esm.mjs",
      'export const where = () => import.meta.url;\nexport const flavour = "esm";\n',
    );
    project.write(
      "node_modules/cjs-only/package.json",
      JSON.stringify({ name: "cjs-only", main: "main.js" }),
    );
    project.write("node_modules/cjs-only/main.js", "exports.hello = (s) => `hello ${s}`;\n");
    project.write(
      "tasks/pkg.ts",
      [
        'import { flavour, where } from "esm-only";',
        'import { hello } from "cjs-only";',
        'const viaRequire = require("cjs-only") as { hello: (s: string) => string };',
        "export function pkg() {",
        "  return { flavour, where: where(), hello: hello('a'), required: viaRequire.hello('b') };",
        "}",
        "",
      ].join("\n"),
    );
    const r = await call("tasks/pkg.ts", "pkg");
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual({
      flavour: "esm",
      where: pathToFileURL(path.join(project.root, "node_modules/esm-only/esm.mjs")).href,
      hello: "hello a",
      required: "hello b",
    });
    // The package is imported, not copied into the compiled file.
    expect(readFileSync(manifestOf("tasks/pkg.ts").output, "utf8")).not.toContain("flavour =");
  });

  it("recompiles when an imported helper changes, and not when nothing did", async () => {
    project.write("tasks/edit/helper.ts", "export const value = (): number => 1;\n");
    project.write(
      "tasks/edit/main.ts",
      'import { value } from "./helper.js";\nexport const edit = (): number => value();\n',
    );
    expect(await call("tasks/edit/main.ts", "edit")).toMatchObject({ result: 1 });
    const first = manifestOf("tasks/edit/main.ts");
    const before = [identity(first.file), identity(first.output)];

    // A new pool (a new run) finds everything unchanged: the files are not written again.
    expect(await call("tasks/edit/main.ts", "edit")).toMatchObject({ result: 1 });
    expect([identity(first.file), identity(first.output)]).toEqual(before);

    // The same size, so only the contents tell the change.
    project.write("tasks/edit/helper.ts", "export const value = (): number => 2;\n");
    expect(await call("tasks/edit/main.ts", "edit")).toMatchObject({ result: 2 });
    const second = manifestOf("tasks/edit/main.ts");
    expect(second.output).not.toBe(first.output);
    // The superseded output is removed.
    expect(existsSync(first.output)).toBe(false);
  });

  it("serves a cache hit without loading esbuild", async () => {
    project.write("tasks/hit.ts", "export const hit = (): string => 'hit';\n");
    const file = path.join(project.root, "tasks/hit.ts");
    expect(await call("tasks/hit.ts", "hit")).toMatchObject({ result: "hit" });
    const { output } = manifestOf("tasks/hit.ts");

    const before = { ...compileStats };
    expect(await compileTs(file, project.root)).toBe(output);
    expect(compileStats.esbuildLoads).toBe(before.esbuildLoads);
    expect(compileStats.compiles).toBe(before.compiles);
    expect(compileStats.hits).toBe(before.hits + 1);

    project.write("tasks/hit.ts", "export const hit = (): string => 'changed';\n");
    const changed = await compileTs(file, project.root);
    expect(changed).not.toBe(output);
    expect(compileStats.esbuildLoads).toBe(before.esbuildLoads + 1);
    expect(compileStats.compiles).toBe(before.compiles + 1);
  });

  it("names every compile error by path:line:column", async () => {
    project.write("tasks/bad/one.ts", "export const one = 1;\nexport const x = (1 +;\n");
    project.write("tasks/bad/two.ts", "export function two() {\n  return ]\n}\n");
    project.write(
      "tasks/bad/main.ts",
      'import { one } from "./one.js";\nimport { two } from "./two.js";\nimport "./missing.js";\nexport const bad = () => one + two();\n',
    );
    const r = await call("tasks/bad/main.ts", "bad");
    expect(r.ended).toBe("threw");
    const lines = r.log.trim().split("\n").sort();
    expect(lines).toEqual([
      'cannot compile tasks/bad/main.ts:3:8: Could not resolve "./missing.js"',
      'cannot compile tasks/bad/one.ts:2:22: Unexpected ";"',
      'cannot compile tasks/bad/two.ts:2:10: Unexpected "]"',
    ]);
    // The call's error carries all of them on one line.
    for (const line of lines) expect(r.error).toContain(line);
  });

  it("points stack traces at the original .ts lines", async () => {
    project.write(
      "tasks/trace.ts",
      [
        "interface Options {",
        "  why: string;",
        "}",
        "",
        "export function fails(input: Options): never {",
        "  const why: string = input.why;",
        "  throw new TypeError(`failed: ${why}`);",
        "}",
        "",
      ].join("\n"),
    );
    const r = await call("tasks/trace.ts", "fails", newPool(), { why: "test" });
    expect(r).toMatchObject({ ended: "threw", error: "TypeError: failed: test" });
    expect(r.log).toContain(`at fails (${path.join(project.root, "tasks/trace.ts")}:7:9)`);
  });

  it("leaves one whole compile when two pools compile the same module at once", async () => {
    project.write("tasks/busy/helper.ts", "export const n = (i: number): number => i * 3;\n");
    project.write(
      "tasks/busy/main.ts",
      'import { n } from "./helper.ts";\nexport const busy = ({ i }: { i: number }): number => n(i);\n',
    );
    const a = newPool(4);
    const b = newPool(4);
    const calls = [];
    for (let i = 0; i < 8; i++) {
      calls.push(call("tasks/busy/main.ts", "busy", i % 2 === 0 ? a : b, { i }));
    }
    const results = await Promise.all(calls);
    expect(results.map((r) => r.result)).toEqual([0, 3, 6, 9, 12, 15, 18, 21]);
    const { file, output } = manifestOf("tasks/busy/main.ts");
    expect(cacheEntries().other).toEqual([]);
    // The compiled file is whole: importing it gives the function.
    const ns = await import(pathToFileURL(output).href);
    expect(ns.busy({ i: 5 })).toBe(15);
    // All eight threads found the same compile.
    expect(JSON.parse(readFileSync(file, "utf8")).output).toBe(path.basename(output));
  });

  it("compiles the same module once when processes ask at the same time", async () => {
    project.write("tasks/procs.ts", "export const procs = (): string => 'procs';\n");
    const file = path.join(project.root, "tasks/procs.ts");
    const compiler = fileURLToPath(new URL("../../dist/tasks/compile-ts.js", import.meta.url));
    const script = `
      const c = await import(${JSON.stringify(pathToFileURL(compiler).href)});
      const out = await c.compileTs(${JSON.stringify(file)}, ${JSON.stringify(project.root)});
      console.log(JSON.stringify({ out, compiles: c.compileStats.compiles }));
    `;
    const runs = await Promise.all(
      Array.from({ length: 4 }, () => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script]);
        let stdout = "";
        child.stdout.on("data", (d) => {
          stdout += d;
        });
        return new Promise<{ out: string; compiles: number }>((resolve, reject) => {
          child.on("error", reject);
          child.on("close", (code) =>
            code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`exit ${code}`)),
          );
        });
      }),
    );
    expect(new Set(runs.map((r) => r.out)).size).toBe(1);
    expect(runs.reduce((n, r) => n + r.compiles, 0)).toBe(1);
    expect(cacheEntries().other).toEqual([]);
    const ns = await import(pathToFileURL(runs[0]!.out).href);
    expect(ns.procs()).toBe("procs");
  });

  it("takes over the lock of a compile whose process died", async () => {
    project.write("tasks/orphan.ts", "export const orphan = (): number => 7;\n");
    const file = path.join(project.root, "tasks/orphan.ts");
    const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], {
      encoding: "utf8",
    });
    const id = createHash("sha256").update(`${COMPILE_FORMAT}\0${file}`).digest("hex");
    project.write(
      path.relative(project.root, path.join(cache, `${id.slice(0, 32)}.lock`)),
      JSON.stringify({ pid: Number(dead.stdout.trim()), host: os.hostname() }),
    );
    // A live lock would hold the compile for its 10 s staleness or the 60 s wait limit: the test's
    // own 5 s timeout fails it then.
    const out = await compileTs(file, project.root);
    expect((await import(pathToFileURL(out).href)).orphan()).toBe(7);
    expect(cacheEntries().other).toEqual([]);
  }, 5000);

  it("keeps CommonJS-style TS exports and JS modules that import .ts", async () => {
    project.write(
      "tasks/cjs.ts",
      "function viaExports(): string { return 'cjs'; }\nmodule.exports = { viaExports };\n",
    );
    expect(await call("tasks/cjs.ts", "viaExports")).toMatchObject({ result: "cjs" });
    project.write("tasks/js/helper.ts", "export const fromTs = (): string => 'from ts';\n");
    project.write(
      "tasks/js/main.mjs",
      'import { fromTs } from "./helper.ts";\nexport const js = () => fromTs();\n',
    );
    expect(await call("tasks/js/main.mjs", "js")).toMatchObject({ result: "from ts" });
  });

  it("imports plain JavaScript as it is, without compiling it", async () => {
    project.write("tasks/plain/plain.mjs", "export const plain = () => import.meta.url;\n");
    const r = await call("tasks/plain/plain.mjs", "plain");
    expect(r.result).toBe(pathToFileURL(path.join(project.root, "tasks/plain/plain.mjs")).href);
    expect(() => manifestOf("tasks/plain/plain.mjs")).toThrow(/no manifest/);
  });
});
