import { statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expandPatterns } from "../../src/fingerprint/expand-patterns.js";
import { findCodeFiles } from "../../src/fingerprint/find-code-files.js";
import { FsReads, readsStillHold, signatureOf } from "../../src/fingerprint/fs-reads.js";
import { FsSnapshot } from "../../src/fingerprint/fs-snapshot.js";
import { hashFile } from "../../src/fingerprint/hash-file.js";
import { makeProject, makeTask } from "../helpers.js";

describe("FsReads (what the spec cache and the no-change memo rest on)", () => {
  it("records each path read, as first seen, and absent paths as absent", async () => {
    const dir = makeProject({ "a.txt": "one\n" });
    const a = path.join(dir, "a.txt");
    const reads = new FsReads();
    await hashFile(a, undefined, reads);
    expect(reads.exists(path.join(dir, "missing.txt"))).toBe(false);
    expect(new Map(reads.reads())).toEqual(
      new Map([
        [a, signatureOf(statSync(a))],
        [path.join(dir, "missing.txt"), "-"],
      ]),
    );
    expect(reads.unusable).toBe(false);
    // A hash made without the record is not in it.
    await hashFile(path.join(dir, "a.txt"));
    expect(reads.reads()).toHaveLength(2);
  });

  it("is unusable when a path changed while the pass looked at it", () => {
    const dir = makeProject({ "a.txt": "one\n" });
    const a = path.join(dir, "a.txt");
    const reads = new FsReads();
    reads.stat(a);
    reads.stat(a);
    expect(reads.unusable).toBe(false);
    writeFileSync(a, "a longer text\n");
    reads.stat(a);
    expect(reads.unusable).toBe(true);
  });

  it("knows when a recorded read no longer holds: a file appearing where a probe found none", () => {
    const dir = makeProject({ "py_tasks/a.py": "def a():\n  pass\n" });
    const reads = new FsReads();
    expect(reads.exists(path.join(dir, "a.py"))).toBe(false);
    expect(reads.exists(path.join(dir, "py_tasks", "a.py"))).toBe(true);
    expect(readsStillHold(reads.reads())).toBe(true);
    writeFileSync(path.join(dir, "a.py"), "def a():\n  pass\n");
    expect(readsStillHold(reads.reads())).toBe(false);
  });

  it("records the directories code discovery and glob expansion listed", async () => {
    const dir = makeProject({
      "tasks/a.py": "import helper\n",
      "tasks/helper.py": "X = 1\n",
      "data/x.csv": "1\n",
    });
    const reads = new FsReads();
    const fs = new FsSnapshot(dir, reads);
    const task = makeTask({ name: "a", kind: "python", file: "tasks/a.py", function: "a" });
    await findCodeFiles(dir, task, { pyTasksDirs: [], rTasksDirs: [] }, fs);
    await expandPatterns(dir, ["data/*.csv"], {}, new FsSnapshot(dir, reads));
    const seen = new Set(reads.reads().map(([p]) => p));
    expect(seen).toContain(path.join(dir, "tasks"));
    expect(seen).toContain(path.join(dir, "tasks", "helper.py"));
    expect(seen).toContain(path.join(dir, "data"));
    // A new file in a listed directory invalidates the record.
    writeFileSync(path.join(dir, "data", "y.csv"), "2\n");
    expect(readsStillHold(reads.reads())).toBe(false);
  });

  it("records the environment variables consulted, with their values", () => {
    const reads = new FsReads();
    expect(reads.env("A_VAR", { A_VAR: "1" })).toBe("1");
    reads.env("UNSET_VAR", {});
    expect(reads.envReads()).toEqual([
      ["A_VAR", "1"],
      ["UNSET_VAR", null],
    ]);
  });
});
