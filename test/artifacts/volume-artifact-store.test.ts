import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ArtifactStore } from "../../src/artifacts/artifact-store.js";
import { openArtifactStore } from "../../src/artifacts/open-artifact-store.js";
import { VolumeArtifactStore } from "../../src/artifacts/volume-artifact-store.js";
import {
  allFiles,
  caught,
  describeArtifactStore,
  MiB,
  tempProject,
  writeFiles,
} from "./artifact-store-conformance.js";

const volumes: string[] = [];
afterAll(() => {
  for (const dir of volumes.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describeArtifactStore("volume", async () => {
  const volume = tempProject();
  volumes.push(volume);
  return openArtifactStore(pathToFileURL(volume).href);
});

describe("volume artifact store", () => {
  let volume: string;
  let root: string;
  let store: ArtifactStore;

  beforeEach(async () => {
    volume = tempProject();
    root = tempProject();
    volumes.push(volume, root);
    store = await openArtifactStore(volume);
  });
  afterEach(async () => {
    await store.close();
    for (const dir of volumes.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps files at <volume>/<path> and describes itself as the volume", async () => {
    expect(store.location).toBe(`volume ${volume}`);
    writeFiles(root, { "out/a.csv": "a" });
    await store.push(root, ["out/a.csv"]);
    expect(readFileSync(join(volume, "out/a.csv"), "utf8")).toBe("a");
    expect(allFiles(volume)).toEqual(["out/a.csv"]);
  });

  it("never shows a reader a partly copied file", async () => {
    writeFiles(root, { "big.bin": randomBytes(20 * MiB) });
    const target = join(volume, "big.bin");
    const seen = new Set<number>();
    let done = false;
    const watcher = (async () => {
      while (!done) {
        seen.add(existsSync(target) ? statSync(target).size : -1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await store.push(root, ["big.bin"]);
    done = true;
    await watcher;
    seen.add(statSync(target).size);
    expect([...seen].every((size) => size === -1 || size === 20 * MiB)).toBe(true);
  });

  it("removes its temporary file when the final rename fails", async () => {
    writeFiles(volume, { "out/x.csv": "remote" });
    // A directory where the file should go makes the rename fail after the copy.
    mkdirSync(join(root, "out/x.csv"), { recursive: true });
    await expect(store.pull(root, ["out/x.csv"])).rejects.toThrow();
    expect(allFiles(root)).toEqual([]);
  });

  it("does not list half-written temporary files", async () => {
    writeFiles(volume, { "out/a.csv": "a", "out/.b.csv.123.abcd1234.dagwright-tmp": "partial" });
    expect(await store.list("out/")).toEqual(["out/a.csv"]);
  });

  it("does nothing when the volume is the project root itself", async () => {
    const same = await VolumeArtifactStore.open(root);
    writeFiles(root, { "out/a.csv": "a" });
    const before = statSync(join(root, "out/a.csv"));
    await same.push(root, ["out/a.csv"]);
    expect(await same.pull(root, ["out/a.csv", "out/b.csv"])).toEqual({
      fetched: [],
      upToDate: ["out/a.csv"],
      missing: ["out/b.csv"],
    });
    expect(statSync(join(root, "out/a.csv")).ino).toBe(before.ino);
    expect(allFiles(root)).toEqual(["out/a.csv"]);
    await expect(same.push(root, ["out/missing.csv"])).rejects.toThrow(
      `cannot upload out/missing.csv: no such file in ${root}`,
    );
  });

  it("reports a volume that is not mounted as E_ENV", async () => {
    const missing = join(volume, "not-mounted");
    const error = await caught(() => openArtifactStore(missing));
    expect(error.code).toBe("E_ENV");
    expect(error.message).toBe(`cannot reach volume ${missing} (ENOENT)`);
    expect(error.hint).toBe(`mount the shared volume at ${missing}, or fix the artifact location`);
  });

  it("reports a volume path that is a file as E_ENV", async () => {
    const file = join(volume, "file");
    writeFileSync(file, "");
    const error = await caught(() => openArtifactStore(file));
    expect(error.code).toBe("E_ENV");
    expect(error.message).toBe(`cannot reach volume ${file} (not a directory)`);
  });
});
