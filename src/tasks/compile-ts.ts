// Compiles a TS (or JSX) task module and the local files it imports into one ESM file in
// `<root>/.dagwright/cache/ts/`, so a worker thread imports plain JS: no loader hooks, no
// transpiler on the hot path. Used by runtime/node-task-worker.mjs (through dist/), once per
// module per worker; a cache hit reads a small manifest and hashes the listed inputs, and never
// loads esbuild.
//
// What the compiled file keeps from the original modules:
// - Package imports are not bundled: each resolves the way Node would from the importing file
//   (same `exports` conditions, `main` only) and is imported from that absolute file URL.
//   A package whose resolved file is TypeScript (a workspace package shipping .ts) is bundled.
// - Every bundled file sees its own `import.meta.url`, `import.meta.dirname`,
//   `import.meta.filename`, `__dirname` and `__filename` (of the original file).
// - An inline source map points stack traces at the original .ts lines (the worker enables
//   source maps).
// Limits: `import.meta.resolve` and `import()` of a computed specifier resolve from the cache
// file; a task module imports its own copy of a local helper (two task modules do not share a
// helper's module state); `require()` of a package works (a `require` made with createRequire is
// provided), `require()` of a computed path does not; the tsconfig.json next to a file using
// `import.meta` is read without its `extends`, and the cache notices edits of the nearest
// tsconfig.json only (not of the files it extends).
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { createRequire, isBuiltin } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { threadId } from "node:worker_threads";
import type { Loader, Message, Plugin, PluginBuild } from "esbuild";

/** Bumped when the compiled output for the same inputs changes (options, plugin, manifest). */
export const COMPILE_FORMAT = 1;

/** Extensions that are always compiled; other modules are imported as they are. */
const COMPILED = /\.(?:[cm]?ts|tsx|jsx)$/;

/** Files the compile reads itself (so the cache knows exactly what was compiled). */
const SOURCE = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/** Bundled files that refer to their own location: rewritten per file. */
const LOCATION = /\bimport\.meta\b|\b__dirname\b|\b__filename\b/;

/** A lock not touched for this long belongs to a compile that died. */
const STALE_LOCK_MS = 10_000;
const HEARTBEAT_MS = 1_000;
/** After this long waiting for another compile, compile anyway (the writes are atomic). */
const WAIT_LIMIT_MS = 60_000;

// Ahead of the bundle: a `require` for the `require()` calls esbuild leaves in (packages).
const BANNER =
  'import { createRequire as __dagwrightCreateRequire } from "node:module";\n' +
  "const require = __dagwrightCreateRequire(import.meta.url);";

/** Counts for this thread (cache hits, esbuild builds, times esbuild was asked for); for tests. */
export const compileStats = { hits: 0, compiles: 0, esbuildLoads: 0 };

/** A module that fails to compile; `message` has one `cannot compile FILE:LINE:COL: …` line per error. */
export class CompileError extends Error {
  override name = "CompileError";
  readonly errors: string[];
  constructor(errors: string[]) {
    super(errors.join("\n"));
    this.errors = errors;
  }
}

/** Whether a module must be compiled before Node can import it (.ts, .mts, .cts, .tsx, .jsx). */
export function needsCompile(file: string): boolean {
  return COMPILED.test(file);
}

/** Where compiled modules of a project are kept. */
export function cacheDirOf(root: string): string {
  return path.join(root, ".dagwright", "cache", "ts");
}

const PROJECT_MARKERS = ["dagwright.yaml", "kptn.yaml", ".dagwright"];

/**
 * The project root whose cache holds `file`: `cwd` when the file is inside it (dagwright runs
 * tasks from the project root), else the nearest directory above the file holding a
 * dagwright.yaml, kptn.yaml or .dagwright, else the file's own directory.
 */
export function projectRootFor(file: string, cwd: string): string {
  if (isInside(file, cwd)) return cwd;
  let dir = path.dirname(file);
  for (;;) {
    if (PROJECT_MARKERS.some((m) => existsSync(path.join(dir, m)))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.dirname(file);
    dir = up;
  }
}

function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

interface Manifest {
  format: number;
  esbuild: string;
  entry: string;
  /** The compiled file's name in the cache dir. */
  output: string;
  /**
   * [absolute path, sha256 of its contents] of everything the output depends on, sorted; a file
   * that must stay absent (it would be resolved instead) has the hash `absent`.
   */
  inputs: Array<[string, string]>;
}

const ABSENT = "absent";

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

let esbuildVersionMemo: string | undefined;

/** The installed esbuild's version, read from its package.json (loading esbuild costs far more). */
function esbuildVersion(): string {
  if (esbuildVersionMemo === undefined) {
    const pkg = createRequire(import.meta.url).resolve("esbuild/package.json");
    esbuildVersionMemo = String(JSON.parse(readFileSync(pkg, "utf8")).version);
  }
  return esbuildVersionMemo;
}

function outputName(entry: string, inputs: Array<[string, string]>): string {
  const key = sha256(
    JSON.stringify({ format: COMPILE_FORMAT, esbuild: esbuildVersion(), entry, inputs }),
  );
  return `${key.slice(0, 40)}.mjs`;
}

/** The compiled file when the manifest still matches every input, else undefined. */
async function cached(dir: string, manifestPath: string, entry: string) {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, "utf8")) as Manifest;
  } catch {
    return undefined;
  }
  if (manifest.format !== COMPILE_FORMAT || manifest.entry !== entry) return undefined;
  for (const [file, hash] of manifest.inputs) {
    let data: Buffer | undefined;
    try {
      data = await readFile(file);
    } catch {
      data = undefined;
    }
    if ((data === undefined ? ABSENT : sha256(data)) !== hash) return undefined;
  }
  // The name covers esbuild's version: an upgrade makes it differ.
  if (outputName(entry, manifest.inputs) !== manifest.output) return undefined;
  const output = path.join(dir, manifest.output);
  return existsSync(output) ? { output, manifest } : undefined;
}

/**
 * The compiled file of `file` (absolute) when the cache holds a current one, else undefined;
 * never compiles (and never loads esbuild). Synchronous (a manifest and a few small files): a
 * caller checks before starting workers, so they can import the file as their first job.
 */
export function compiledIfCurrent(file: string, root: string): string | undefined {
  const dir = cacheDirOf(root);
  const id = sha256(`${COMPILE_FORMAT}\0${file}`).slice(0, 32);
  try {
    const manifest = JSON.parse(readFileSync(path.join(dir, `${id}.json`), "utf8")) as Manifest;
    if (manifest.format !== COMPILE_FORMAT || manifest.entry !== file) return undefined;
    for (const [input, hash] of manifest.inputs) {
      let data: Buffer | undefined;
      try {
        data = readFileSync(input);
      } catch {
        data = undefined;
      }
      if ((data === undefined ? ABSENT : sha256(data)) !== hash) return undefined;
    }
    if (outputName(file, manifest.inputs) !== manifest.output) return undefined;
    const output = path.join(dir, manifest.output);
    return existsSync(output) ? output : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `data` to `file` through a temporary name, so no reader sees half of it. */
async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}-${threadId}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Compiles `file` (absolute) and the local modules it imports into one ESM file under
 * `<root>/.dagwright/cache/ts/` and returns that file's absolute path; when nothing it was built
 * from changed, returns the earlier output without loading esbuild. Compiles of the same module
 * by several threads or processes take turns through a lock file (each waiter then finds the
 * fresh output); the output and manifest are written atomically. Throws a {@link CompileError}
 * for syntax and resolution errors.
 */
export async function compileTs(file: string, root: string): Promise<string> {
  const dir = cacheDirOf(root);
  const id = sha256(`${COMPILE_FORMAT}\0${file}`).slice(0, 32);
  const manifestPath = path.join(dir, `${id}.json`);
  const lockPath = path.join(dir, `${id}.lock`);
  const hit = await cached(dir, manifestPath, file);
  if (hit !== undefined) {
    compileStats.hits++;
    return hit.output;
  }
  try {
    await stat(file);
  } catch {
    throw new CompileError([`cannot compile ${relative(root, file)}: file not found`]);
  }
  await mkdir(dir, { recursive: true });
  const giveUp = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    const release = await lock(lockPath);
    if (release !== undefined || Date.now() > giveUp) {
      try {
        const again = await cached(dir, manifestPath, file);
        if (again !== undefined) {
          compileStats.hits++;
          return again.output;
        }
        return await build(file, root, dir, manifestPath);
      } finally {
        await release?.();
      }
    }
    await new Promise((r) => setTimeout(r, 10));
    const done = await cached(dir, manifestPath, file);
    if (done !== undefined) {
      compileStats.hits++;
      return done.output;
    }
  }
}

/** Takes the lock file, or removes it when its holder is gone; undefined when it is held. */
async function lock(lockPath: string): Promise<(() => Promise<void>) | undefined> {
  try {
    const handle = await open(lockPath, "wx");
    await handle.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname() }));
    await handle.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    if (lockIsStale(lockPath)) await rm(lockPath, { force: true });
    return undefined;
  }
  // The holder touches the file while it compiles; a killed thread or process stops doing so.
  const beat = setInterval(() => {
    const now = new Date();
    utimes(lockPath, now, now).catch(() => {});
  }, HEARTBEAT_MS);
  beat.unref();
  return async () => {
    clearInterval(beat);
    await rm(lockPath, { force: true });
  };
}

function lockIsStale(lockPath: string): boolean {
  try {
    if (Date.now() - statSync(lockPath).mtimeMs > STALE_LOCK_MS) return true;
    const holder = JSON.parse(readFileSync(lockPath, "utf8")) as { pid?: number; host?: string };
    if (holder.host !== os.hostname() || typeof holder.pid !== "number") return false;
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    // ESRCH: the process that held it is gone. A lock being written reads as invalid JSON: held.
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

type Esbuild = typeof import("esbuild");
let esbuildModule: Promise<Esbuild> | undefined;
/** Builds under way in this thread; the esbuild service is stopped when none is. */
let running = 0;

async function loadEsbuild(): Promise<Esbuild> {
  compileStats.esbuildLoads++;
  esbuildModule ??= import("esbuild");
  return esbuildModule;
}

function relative(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join("/") || file;
}

function loaderFor(file: string): Loader {
  if (file.endsWith(".tsx")) return "tsx";
  if (file.endsWith(".jsx")) return "jsx";
  return /\.[cm]?ts$/.test(file) ? "ts" : "js";
}

/** The nearest tsconfig.json (or jsconfig.json) at or above `dir`, if any: esbuild's choice. */
function nearestTsconfig(dir: string): string | undefined {
  for (;;) {
    for (const name of ["tsconfig.json", "jsconfig.json"]) {
      const candidate = path.join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** The package.json of the package holding `file`, if any. */
function packageJsonOf(file: string): string | undefined {
  let dir = path.dirname(file);
  for (;;) {
    const candidate = path.join(dir, "package.json");
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** TypeScript ESM writes the emitted name (`./util.js`) for the source file `./util.ts`. */
const TS_FOR_JS: Record<string, string[]> = {
  ".js": [".ts", ".tsx"],
  ".jsx": [".tsx"],
  ".mjs": [".mts"],
  ".cjs": [".cts"],
};

/**
 * `./util.js` → util.ts when that exists, even beside a util.js (a stale build output): the
 * source is what the fingerprint covers and what tsx ran. Else esbuild resolves it.
 */
function tsSource(
  specifier: string,
  resolveDir: string,
  inputs: Inputs,
): { path: string } | undefined {
  if (!specifier.startsWith(".") || resolveDir === "") return undefined;
  const abs = path.resolve(resolveDir, specifier);
  const ext = path.extname(abs);
  const candidates = (TS_FOR_JS[ext] ?? []).map((ts) => abs.slice(0, abs.length - ext.length) + ts);
  for (const candidate of candidates) {
    try {
      if (statSync(candidate).isFile()) return { path: candidate };
    } catch {
      // not there
    }
  }
  // Creating one of them later must miss the cache.
  for (const candidate of candidates) inputs.set(candidate, ABSENT);
  return undefined;
}

function isBare(specifier: string): boolean {
  return !(
    specifier.startsWith(".") ||
    path.isAbsolute(specifier) ||
    /^[a-z][a-z0-9+.-]*:/i.test(specifier)
  );
}

/** Files whose contents decide the output, with their hashes, gathered during a build. */
type Inputs = Map<string, string>;

function plugin(esbuild: Esbuild, inputs: Inputs): Plugin {
  const hashFile = (file: string) => {
    if (!inputs.has(file)) inputs.set(file, sha256(readFileSync(file)));
  };
  // A file's tsconfig.json decides how it compiles (jsx, decorators, class fields, paths).
  const tsconfigs = new Map<string, string | undefined>();
  const tsconfigOf = (dir: string) => {
    if (!tsconfigs.has(dir)) tsconfigs.set(dir, nearestTsconfig(dir));
    const found = tsconfigs.get(dir);
    if (found !== undefined) hashFile(found);
    return found;
  };
  return {
    name: "dagwright",
    setup(build: PluginBuild) {
      // Packages stay external, imported from the file Node would resolve from the importer.
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData?.dagwright === true || isBuiltin(args.path)) return undefined;
        if (!isBare(args.path)) return tsSource(args.path, args.resolveDir, inputs);
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: { dagwright: true },
        });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        if (resolved.external || resolved.path === "" || resolved.namespace !== "file") {
          return resolved;
        }
        // A package that ships TypeScript cannot be imported by Node: bundle it.
        if (/\.(?:[cm]?ts|tsx)$/.test(resolved.path)) return { path: resolved.path };
        // Installing another version of the package must miss the cache.
        const pkg = packageJsonOf(resolved.path);
        if (pkg !== undefined) hashFile(pkg);
        return {
          path:
            args.kind === "require-call" || args.kind === "require-resolve"
              ? resolved.path
              : pathToFileURL(resolved.path).href,
          external: true,
        };
      });
      // Each bundled file keeps its own location; sources are hashed as they are compiled.
      build.onLoad({ filter: SOURCE }, async (args) => {
        if (args.namespace !== "file") return undefined;
        const data = await readFile(args.path);
        inputs.set(args.path, sha256(data));
        const text = data.toString("utf8");
        const loader = loaderFor(args.path);
        const dir = path.dirname(args.path);
        const tsconfig = tsconfigOf(dir);
        if (!LOCATION.test(text)) return { contents: text, loader };
        try {
          const out = await esbuild.transform(text, {
            loader,
            sourcefile: args.path,
            sourcemap: "inline",
            sourcesContent: false,
            logLevel: "silent",
            ...(tsconfig === undefined ? {} : { tsconfigRaw: readFileSync(tsconfig, "utf8") }),
            define: {
              "import.meta.url": JSON.stringify(pathToFileURL(args.path).href),
              "import.meta.dirname": JSON.stringify(dir),
              "import.meta.filename": JSON.stringify(args.path),
              __dirname: JSON.stringify(dir),
              __filename: JSON.stringify(args.path),
            },
          });
          return { contents: out.code, loader: "js" };
        } catch (err) {
          return { errors: (err as { errors?: Message[] }).errors ?? [{ text: String(err) }] };
        }
      });
    },
  };
}

function describeErrors(root: string, messages: readonly Message[], entry: string): string[] {
  return messages.map((m) => {
    const loc = m.location;
    if (loc === null || loc === undefined) {
      return `cannot compile ${relative(root, entry)}: ${m.text}`;
    }
    const file = relative(root, path.resolve(root, loc.file));
    return `cannot compile ${file}:${loc.line}:${loc.column + 1}: ${m.text}`;
  });
}

async function build(
  entry: string,
  root: string,
  dir: string,
  manifestPath: string,
): Promise<string> {
  const esbuild = await loadEsbuild();
  running++;
  const inputs: Inputs = new Map();
  try {
    let result: Awaited<ReturnType<Esbuild["build"]>>;
    try {
      result = await esbuild.build({
        entryPoints: [entry],
        absWorkingDir: root,
        bundle: true,
        format: "esm",
        platform: "node",
        target: "node20",
        // Node's own resolution: no `module` condition, `main` only.
        conditions: [],
        mainFields: ["main"],
        // Extensionless specifiers: the order the fingerprint's import scan uses.
        resolveExtensions: [".ts", ".tsx", ".mts", ".js", ".mjs", ".cjs", ".cts", ".jsx", ".json"],
        sourcemap: "inline",
        sourcesContent: false,
        // Named like its final name's directory, so source map paths are right from there.
        outfile: path.join(dir, "out.mjs"),
        write: false,
        metafile: true,
        logLevel: "silent",
        banner: { js: BANNER },
        plugins: [plugin(esbuild, inputs)],
      });
    } catch (err) {
      const errors = (err as { errors?: Message[] }).errors;
      if (errors === undefined || errors.length === 0) throw err;
      throw new CompileError(describeErrors(root, errors, entry));
    }
    compileStats.compiles++;
    // Inputs esbuild read itself (JSON, text): hashed now.
    for (const key of Object.keys(result.metafile?.inputs ?? {})) {
      const file = path.resolve(root, key);
      if (!inputs.has(file) && existsSync(file)) inputs.set(file, sha256(readFileSync(file)));
    }
    const list = [...inputs.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const manifest: Manifest = {
      format: COMPILE_FORMAT,
      esbuild: esbuildVersion(),
      entry,
      output: outputName(entry, list),
      inputs: list,
    };
    const output = path.join(dir, manifest.output);
    const code = result.outputFiles?.[0]?.text ?? "";
    if (!existsSync(output)) await writeAtomic(output, code);
    const previous = await readFile(manifestPath, "utf8").then(
      (t) => (JSON.parse(t) as Manifest).output,
      () => undefined,
    );
    await writeAtomic(manifestPath, `${JSON.stringify(manifest)}\n`);
    // The output this one replaces (an older version of the module) is no longer reachable.
    if (
      previous !== undefined &&
      previous !== manifest.output &&
      /^[0-9a-f]+\.mjs$/.test(previous)
    ) {
      await rm(path.join(dir, previous), { force: true });
    }
    return output;
  } finally {
    running--;
    // Its child process would outlive a worker thread terminated later (as an unreaped zombie).
    if (running === 0) void esbuild.stop();
  }
}
