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
  it("hashes content with sha256 and records the metadata and the time of hashing", async () => {
    const root = tempProject({ "a.csv": "x,y\n1,2\n" });
    const file = path.join(root, "a.csv");
    const cache = memoryCache();
    const before = Date.now();
    const h = await hashFile(file, cache);
    const st = fs.statSync(file);
    expect(h).toEqual({
      size: st.size,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      ino: st.ino,
      hashedAtMs: expect.any(Number),
      hash: hashString("x,y\n1,2\n"),
    });
    expect(h!.hashedAtMs).toBeGreaterThanOrEqual(before);
    expect(cache.map.get(file)).toEqual(h);
  });

  it("returns undefined for a missing file or a directory", async () => {
    const root = tempProject({ "d/x": "" });
    expect(await hashFile(path.join(root, "nope.csv"))).toBeUndefined();
    expect(await hashFile(path.join(root, "d"))).toBeUndefined();
  });

  /** Hashes `file` and makes the entry one taken long after the file's last change. */
  async function settled(file: string, cache: ReturnType<typeof memoryCache>) {
    const h = (await hashFile(file, cache))!;
    cache.map.set(file, { ...h, hashedAtMs: h.hashedAtMs + 60_000 });
    return cache.map.get(file)!;
  }

  it("trusts a settled cache entry without reading the file", async () => {
    const root = tempProject({ "a.txt": "aaaa" });
    const file = path.join(root, "a.txt");
    const cache = memoryCache();
    const entry = await settled(file, cache);
    expect(await hashFile(file, cache)).toBe(entry);
    expect(cache.puts).toBe(1);
  });

  it.each([
    ["rewritten in place, mtime restored (touch -r, a same-tick edit)", "in place"],
    ["replaced by a copy with the old mtime (cp -p, rsync -a, tar x)", "replaced"],
  ])("sees a same-size change %s", async (_, how) => {
    const root = tempProject({ "a.txt": "aaaa", "new.txt": "bbbb" });
    const file = path.join(root, "a.txt");
    const past = new Date("2024-01-01T00:00:00Z");
    fs.utimesSync(file, past, past);
    const cache = memoryCache();
    await settled(file, cache);
    if (how === "in place") fs.writeFileSync(file, "bbbb");
    else fs.renameSync(path.join(root, "new.txt"), file);
    fs.utimesSync(file, past, past);
    const again = await hashFile(file, cache);
    expect(again?.hash).toBe(hashString("bbbb"));
    expect(again?.mtimeMs).toBe(past.getTime());
  });

  it("does not trust a hash taken right after the file changed (racily clean)", async () => {
    const root = tempProject({ "a.txt": "aaaa" });
    const file = path.join(root, "a.txt");
    const cache = memoryCache();
    await hashFile(file, cache);
    await hashFile(file, cache);
    expect(cache.puts).toBe(2);
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
