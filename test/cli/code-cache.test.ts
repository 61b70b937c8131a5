import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, REPO } from "../helpers.js";

// bin/dagwright.cjs compiles the CLI's script with a V8 code cache kept next to it. Each test works
// on a copy of the package, so the cache the other tests use is never touched.
function packageCopy(): { bin: string; bundle: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-pkg-"));
  mkdirSync(path.join(dir, "bin"));
  cpSync(path.join(REPO, "bin", "dagwright.cjs"), path.join(dir, "bin", "dagwright.cjs"));
  cpSync(path.join(REPO, "package.json"), path.join(dir, "package.json"));
  const bundle = path.join(dir, "dist", "bundle");
  cpSync(path.join(REPO, "dist", "bundle"), bundle, {
    recursive: true,
    filter: (f) => !f.endsWith(".cache"),
  });
  for (const shared of ["node_modules", "runtime", "templates"])
    symlinkSync(path.join(REPO, shared), path.join(dir, shared));
  return { bin: path.join(dir, "bin", "dagwright.cjs"), bundle };
}

function cli(bin: string, args: string[], env: Record<string, string> = {}, cwd = os.tmpdir()) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cacheFiles = (bundle: string) => readdirSync(bundle).filter((f) => f.endsWith(".cache"));
const identity = (f: string) => {
  const s = statSync(f);
  return `${s.ino}:${s.mtimeMs}:${s.size}`;
};
const version = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")).version;

describe("the CLI's code cache", () => {
  it("is written by the first command and read, unchanged, by the next ones", () => {
    const { bin, bundle } = packageCopy();
    expect(cacheFiles(bundle)).toEqual([]);
    const first = cli(bin, ["--version"]);
    expect(first).toMatchObject({ code: 0, stdout: `${version}\n` });
    const [cache] = cacheFiles(bundle);
    expect(cache).toMatch(/^dagwright\.cjs\..+\.cache$/);
    const file = path.join(bundle, cache!);
    expect(statSync(file).size).toBeGreaterThan(1000);
    const before = identity(file);
    expect(cli(bin, ["--help"])).toMatchObject({ code: 0, stdout: expect.stringContaining("run") });
    // V8 accepted it: not rewritten.
    expect(identity(file)).toBe(before);
    expect(cacheFiles(bundle)).toEqual([cache]);
  });

  it("is written again once after each command it was not written after yet", () => {
    const { bin, bundle } = packageCopy();
    const project = makeProject({
      "dagwright.yaml":
        'graphs:\n  g:\n    tasks:\n      a: []\ntasks:\n  a: {command: ["true"]}\n',
    });
    cli(bin, ["--version"]);
    const file = path.join(bundle, cacheFiles(bundle)[0]!);
    const commands = () => JSON.parse(readFileSync(file, "utf8").split("\n", 1)[0]!).commands;
    expect(commands()).toEqual([""]);
    const afterVersion = identity(file);
    expect(cli(bin, ["run", "--dry-run"], {}, project)).toMatchObject({ code: 0 });
    expect(commands()).toEqual(["", "run --dry-run"]);
    expect(cli(bin, ["run"], {}, project)).toMatchObject({ code: 0 });
    // The run compiled functions --version never did: they are in the cache now.
    expect(identity(file)).not.toBe(afterVersion);
    expect(statSync(file).size).toBeGreaterThan(Number(afterVersion.split(":")[2]));
    expect(commands()).toEqual(["", "run --dry-run", "run"]);
    const afterRun = identity(file);
    expect(cli(bin, ["run", "--force"], {}, project)).toMatchObject({ code: 0 });
    expect(cli(bin, ["--version"])).toMatchObject({ code: 0 });
    expect(identity(file)).toBe(afterRun);
  });

  it("is not used for a script replaced in place, even one of the same length", () => {
    const { bin, bundle } = packageCopy();
    cli(bin, ["--version"]);
    const file = path.join(bundle, cacheFiles(bundle)[0]!);
    const before = identity(file);
    const script = path.join(bundle, "dagwright.cjs");
    const text = readFileSync(script, "utf8");
    // Same length, other content (a module path comment), and a later mtime, as a copy would give.
    const edited = text.replace("\n// dist/", "\n// DIST/");
    expect(edited).not.toBe(text);
    writeFileSync(script, edited);
    utimesSync(script, new Date(), new Date(Date.now() + 5000));
    expect(cli(bin, ["--version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(identity(file)).not.toBe(before);
    expect(readFileSync(file, "utf8").split("\n", 1)[0]).toContain(
      `"source":"${Buffer.byteLength(text)}:`,
    );
  });

  it("that V8 rejects (corrupt, truncated) is replaced, and the command runs as usual", () => {
    const { bin, bundle } = packageCopy();
    cli(bin, ["--version"]);
    const file = path.join(bundle, cacheFiles(bundle)[0]!);
    for (const bad of [Buffer.from("not a code cache"), readFileSync(file).subarray(0, 100)]) {
      writeFileSync(file, bad);
      expect(cli(bin, ["--version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
      expect(statSync(file).size).toBeGreaterThan(1000);
      const replaced = identity(file);
      cli(bin, ["--version"]);
      expect(identity(file)).toBe(replaced);
    }
  });

  it("is not needed: a place it cannot be written to, or DAGWRIGHT_CODE_CACHE=0, runs without", () => {
    const { bin, bundle } = packageCopy();
    expect(cli(bin, ["--version"], { DAGWRIGHT_CODE_CACHE: "0" })).toMatchObject({ code: 0 });
    expect(cacheFiles(bundle)).toEqual([]);
    cli(bin, ["--version"]);
    const name = cacheFiles(bundle)[0]!;
    // A directory where the file should be: it can be neither read nor replaced.
    const file = path.join(bundle, name);
    const copy = packageCopy();
    mkdirSync(path.join(copy.bundle, name));
    expect(cli(copy.bin, ["--version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(statSync(path.join(copy.bundle, name)).isDirectory()).toBe(true);
    expect(readdirSync(copy.bundle).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(statSync(file).isFile()).toBe(true);
  });
});

describe("the former entry point bin/dagwright.js", () => {
  it("still runs the CLI, with its arguments and exit code (links made to it keep working)", () => {
    const project = makeProject({
      "dagwright.yaml": "graphs:\n  g:\n    tasks:\n      a: [nope]\n",
    });
    const old = path.join(REPO, "bin", "dagwright.js");
    expect(cli(old, ["--version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
    const bad = cli(old, ["validate"], {}, project);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown task "nope"/);
  });
});
