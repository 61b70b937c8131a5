import { createHash, randomBytes } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ArtifactStore } from "../../src/artifacts/artifact-store.js";
import { DagwrightError } from "../../src/spec/errors.js";

/** Makes a store over a fresh, empty remote location (a new prefix or a new volume directory). */
export type MakeArtifactStore = () => Promise<ArtifactStore>;

export const MiB = 1024 * 1024;

/** A temp directory standing in for a project root (or a pod's checkout of it). */
export function tempProject(): string {
  return mkdtempSync(join(tmpdir(), "dagwright-artifacts-"));
}

export function writeFiles(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
}

/** Every file under `dir`, as sorted relative POSIX paths (temp files included: none may be left). */
export function allFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}

export async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Runs `fn` and returns the DagwrightError it throws (failing when it does not throw one). */
export async function caught(fn: () => Promise<unknown>): Promise<DagwrightError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DagwrightError);
    return error as DagwrightError;
  }
  throw new Error("expected a DagwrightError, but the call succeeded");
}

/** The behaviour every {@link ArtifactStore} backend must have. */
export function describeArtifactStore(name: string, makeStore: MakeArtifactStore): void {
  describe(`ArtifactStore conformance: ${name}`, () => {
    let store: ArtifactStore;
    let dirs: string[];
    const project = (): string => {
      const dir = tempProject();
      dirs.push(dir);
      return dir;
    };

    beforeEach(async () => {
      dirs = [];
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    it("round-trips files through push and a pull into a fresh directory, a 20 MiB one included", async () => {
      const a = project();
      const big = randomBytes(20 * MiB);
      writeFiles(a, { "a.csv": "x,y\n1,2\n", "out/nested/deep/b.json": '{"b":1}', "big.bin": big });
      await store.push(a, ["a.csv", "out/nested/deep/b.json", "big.bin"]);

      const b = project();
      const result = await store.pull(b, ["a.csv", "out/nested/deep/b.json", "big.bin"]);
      expect(result).toEqual({
        fetched: ["a.csv", "out/nested/deep/b.json", "big.bin"],
        upToDate: [],
        missing: [],
      });
      expect(readFileSync(join(b, "a.csv"), "utf8")).toBe("x,y\n1,2\n");
      expect(readFileSync(join(b, "out/nested/deep/b.json"), "utf8")).toBe('{"b":1}');
      expect(statSync(join(b, "big.bin")).size).toBe(20 * MiB);
      expect(await sha256Of(join(b, "big.bin"))).toBe(
        createHash("sha256").update(big).digest("hex"),
      );
      expect(allFiles(b)).toEqual(["a.csv", "big.bin", "out/nested/deep/b.json"]);
    });

    it("moves many files at once", async () => {
      const a = project();
      const files = Object.fromEntries(
        Array.from({ length: 40 }, (_, i) => [`parts/p${i}.txt`, `part ${i}`]),
      );
      writeFiles(a, files);
      await store.push(a, Object.keys(files));
      const b = project();
      const result = await store.pull(b, Object.keys(files));
      expect(result.fetched).toEqual(Object.keys(files));
      for (const [rel, content] of Object.entries(files)) {
        expect(readFileSync(join(b, rel), "utf8")).toBe(content);
      }
    });

    it("reports a path absent remotely as missing and creates nothing for it", async () => {
      const a = project();
      writeFiles(a, { "here.txt": "here" });
      await store.push(a, ["here.txt"]);
      const b = project();
      const result = await store.pull(b, ["here.txt", "not/there/at/all.csv"]);
      expect(result).toEqual({
        fetched: ["here.txt"],
        upToDate: [],
        missing: ["not/there/at/all.csv"],
      });
      expect(existsSync(join(b, "not"))).toBe(false);
      expect(allFiles(b)).toEqual(["here.txt"]);
    });

    it("leaves a local file with the same content untouched (same inode and mtime)", async () => {
      const a = project();
      writeFiles(a, { "out/same.csv": "same\n" });
      await store.push(a, ["out/same.csv"]);
      const b = project();
      writeFiles(b, { "out/same.csv": "same\n" });
      const before = statSync(join(b, "out/same.csv"));
      const result = await store.pull(b, ["out/same.csv"]);
      expect(result).toEqual({ fetched: [], upToDate: ["out/same.csv"], missing: [] });
      const after = statSync(join(b, "out/same.csv"));
      expect(after.ino).toBe(before.ino);
      expect(after.mtimeMs).toBe(before.mtimeMs);
    });

    it("replaces a local file whose content differs, including one of the same size", async () => {
      const a = project();
      writeFiles(a, { "x.txt": "new!", "y.txt": "longer content" });
      await store.push(a, ["x.txt", "y.txt"]);
      const b = project();
      writeFiles(b, { "x.txt": "old!", "y.txt": "short" });
      const result = await store.pull(b, ["x.txt", "y.txt"]);
      expect(result.fetched).toEqual(["x.txt", "y.txt"]);
      expect(readFileSync(join(b, "x.txt"), "utf8")).toBe("new!");
      expect(readFileSync(join(b, "y.txt"), "utf8")).toBe("longer content");
    });

    it("overwrites a remote file on a second push", async () => {
      const a = project();
      writeFiles(a, { "r.txt": "one" });
      await store.push(a, ["r.txt"]);
      writeFiles(a, { "r.txt": "two, longer" });
      await store.push(a, ["r.txt"]);
      const b = project();
      await store.pull(b, ["r.txt"]);
      expect(readFileSync(join(b, "r.txt"), "utf8")).toBe("two, longer");
    });

    it("tells which paths exist remotely without downloading them", async () => {
      const a = project();
      writeFiles(a, { "e/1.txt": "1", "e/2.txt": "2" });
      await store.push(a, ["e/1.txt", "e/2.txt"]);
      expect(await store.exists(["e/1.txt", "e/3.txt", "./e/2.txt"])).toEqual(
        new Set(["e/1.txt", "e/2.txt"]),
      );
    });

    it("lists files under a prefix, nested ones included, relative to the project", async () => {
      const a = project();
      writeFiles(a, {
        "out/a.csv": "a",
        "out/sub/b.csv": "b",
        "out/sub/deeper/c.csv": "c",
        "outer.csv": "o",
        "other/d.csv": "d",
      });
      await store.push(a, [
        "out/a.csv",
        "out/sub/b.csv",
        "out/sub/deeper/c.csv",
        "outer.csv",
        "other/d.csv",
      ]);
      expect(await store.list("out/")).toEqual([
        "out/a.csv",
        "out/sub/b.csv",
        "out/sub/deeper/c.csv",
      ]);
      expect(await store.list("out/sub/")).toEqual(["out/sub/b.csv", "out/sub/deeper/c.csv"]);
      expect(await store.list("out")).toEqual([
        "out/a.csv",
        "out/sub/b.csv",
        "out/sub/deeper/c.csv",
        "outer.csv",
      ]);
      expect(await store.list("")).toHaveLength(5);
      expect(await store.list("nothing/")).toEqual([]);
    });

    it.each([
      { path: "../escape.csv", message: 'artifact path "../escape.csv" escapes the project root' },
      { path: "out/../../x", message: 'artifact path "out/../../x" escapes the project root' },
      {
        path: "/etc/passwd",
        message: 'artifact path "/etc/passwd" is absolute; it must be relative to the project root',
      },
      { path: "out/", message: 'artifact path "out/" names a directory, not a file' },
    ])("rejects $path in pull, push and exists", async ({ path, message }) => {
      const root = project();
      for (const call of [
        () => store.pull(root, ["ok.txt", path]),
        () => store.push(root, [path]),
        () => store.exists([path]),
      ]) {
        const error = await caught(call);
        expect(error.code).toBe("E_USAGE");
        expect(error.message).toBe(message);
      }
      expect(allFiles(root)).toEqual([]);
    });

    it("rejects a listing prefix outside the project", async () => {
      const cases = [
        { prefix: "../", message: 'artifact prefix "../" escapes the project root' },
        {
          prefix: "/abs/",
          message: 'artifact prefix "/abs/" is absolute; it must be relative to the project root',
        },
      ];
      for (const { prefix, message } of cases) {
        const error = await caught(() => store.list(prefix));
        expect(error.code).toBe("E_USAGE");
        expect(error.message).toBe(message);
      }
    });

    it("refuses to push a file that does not exist locally", async () => {
      const root = project();
      const error = await caught(() => store.push(root, ["out/never-written.csv"]));
      expect(error.code).toBe("E_TASK");
      expect(error.message).toBe(`cannot upload out/never-written.csv: no such file in ${root}`);
      expect(await store.exists(["out/never-written.csv"])).toEqual(new Set());
    });

    it("has a location without credentials", () => {
      expect(store.location).not.toMatch(/S3RVER|secret/i);
    });
  });
}
