import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type FileHash, type FileHashCache, hashFile } from "../../src/fingerprint/hash-file.js";
import { hashFiles } from "../../src/fingerprint/hash-files.js";
import { hashString } from "../../src/fingerprint/hash-string.js";
import { tempProject } from "./project.js";

function memoryCache(): FileHashCache & { puts: number; map: Map<string, FileHash> } {
  const map = new Map<string, FileHash>();
  return {
    map,
    puts: 0,
    get: (p) => map.get(p),
    put(p, h) {
      this.puts++;
      map.set(p, h);
    },
  };
}

describe("hashFile", () => {
  it("hashes content with sha256 and records size and mtime in the cache", async () => {
    const root = tempProject({ "a.csv": "x,y\n1,2\n" });
    const file = path.join(root, "a.csv");
    const cache = memoryCache();
    const h = await hashFile(file, cache);
    const st = fs.statSync(file);
    expect(h).toEqual({ size: st.size, mtimeMs: st.mtimeMs, hash: hashString("x,y\n1,2\n") });
    expect(cache.map.get(file)).toEqual(h);
  });

  it("returns undefined for a missing file or a directory", async () => {
    const root = tempProject({ "d/x": "" });
    expect(await hashFile(path.join(root, "nope.csv"))).toBeUndefined();
    expect(await hashFile(path.join(root, "d"))).toBeUndefined();
  });

  it("trusts the cache without reading when size and mtime match, and rehashes when mtime moves", async () => {
    const root = tempProject({ "a.txt": "aaaa" });
    const file = path.join(root, "a.txt");
    const past = new Date("2024-01-01T00:00:00Z");
    fs.utimesSync(file, past, past);
    const cache = memoryCache();
    const first = await hashFile(file, cache);
    expect(first?.hash).toBe(hashString("aaaa"));

    // Same size, restored mtime: only reading the file could tell, and the fast path must not.
    fs.writeFileSync(file, "bbbb");
    fs.utimesSync(file, past, past);
    expect(await hashFile(file, cache)).toBe(first);
    expect(cache.puts).toBe(1);

    const later = new Date("2024-01-02T00:00:00Z");
    fs.utimesSync(file, later, later);
    const second = await hashFile(file, cache);
    expect(second?.hash).toBe(hashString("bbbb"));
    expect(second?.mtimeMs).toBe(later.getTime());
    expect(cache.map.get(file)).toEqual(second);
  });

  it("rehashes when the size differs even if the mtime matches", async () => {
    const root = tempProject({ "a.txt": "aaaa" });
    const file = path.join(root, "a.txt");
    const past = new Date("2024-01-01T00:00:00Z");
    fs.utimesSync(file, past, past);
    const cache = memoryCache();
    await hashFile(file, cache);
    fs.writeFileSync(file, "aaaaa");
    fs.utimesSync(file, past, past);
    expect((await hashFile(file, cache))?.hash).toBe(hashString("aaaaa"));
  });

  it("streams files larger than a mebibyte to the same hash", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x61);
    const root = tempProject();
    const file = path.join(root, "big.bin");
    fs.writeFileSync(file, big);
    expect((await hashFile(file))?.hash).toBe(hashString(big));
  });
});

describe("hashFiles", () => {
  it("hashes many files, keeping every requested path and reporting missing ones as undefined", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`f${i}.txt`] = `content ${i}`;
    const root = tempProject(files);
    const paths = [...Object.keys(files), "missing.txt"].map((f) => path.join(root, f));
    const cache = memoryCache();
    const result = await hashFiles(paths, cache);
    expect([...result.keys()]).toEqual(paths);
    expect(result.get(path.join(root, "f7.txt"))?.hash).toBe(hashString("content 7"));
    expect(result.get(path.join(root, "missing.txt"))).toBeUndefined();
    expect(cache.puts).toBe(40);
  });
});
