import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expandPatterns } from "../../src/fingerprint/expand-patterns.js";
import { tempProject, writeFiles } from "./project.js";

const FILES = {
  "data/NC/2023.csv": "",
  "data/NC/2024.csv": "",
  "data/SC/2024.csv": "",
  "data/SC/deep/er/x.csv": "",
  "data/SC/notes.txt": "",
  "data/.hidden/secret.csv": "",
  "data/.dot.csv": "",
  "out/report.csv": "",
  "a?b.txt": "",
};

describe("expandPatterns", () => {
  it("fills ${VAR} from vars and matches sorted, project-relative POSIX paths", async () => {
    const root = tempProject(FILES);
    expect(await expandPatterns(root, ["data/${state}/*.csv"], { state: "NC" })).toEqual([
      "data/NC/2023.csv",
      "data/NC/2024.csv",
    ]);
  });

  it("treats an absent variable as a wildcard within one segment", async () => {
    const root = tempProject(FILES);
    expect(await expandPatterns(root, ["data/${state}/${year}.csv"], { year: "2024" })).toEqual([
      "data/NC/2024.csv",
      "data/SC/2024.csv",
    ]);
  });

  it("matches any depth with ** (including none) and skips dot entries", async () => {
    const root = tempProject(FILES);
    expect(await expandPatterns(root, ["data/**/*.csv"])).toEqual([
      "data/NC/2023.csv",
      "data/NC/2024.csv",
      "data/SC/2024.csv",
      "data/SC/deep/er/x.csv",
    ]);
    expect(await expandPatterns(root, ["data/SC/**"])).toEqual([
      "data/SC/2024.csv",
      "data/SC/deep/er/x.csv",
      "data/SC/notes.txt",
    ]);
    expect(await expandPatterns(root, ["data/.*"])).toEqual(["data/.dot.csv"]);
  });

  it("supports ? and de-duplicates overlapping patterns", async () => {
    const root = tempProject(FILES);
    expect(await expandPatterns(root, ["data/?C/2024.csv", "data/NC/2024.csv"])).toEqual([
      "data/NC/2024.csv",
      "data/SC/2024.csv",
    ]);
  });

  it("returns a plain path as written when it exists, file or directory, and drops it otherwise", async () => {
    const root = tempProject(FILES);
    expect(await expandPatterns(root, ["./out//report.csv", "out", "missing.csv"])).toEqual([
      "out",
      "out/report.csv",
    ]);
  });

  it("takes variable values literally, never as globs", async () => {
    const root = tempProject(FILES);
    expect(await expandPatterns(root, ["${name}.txt"], { name: "a?b" })).toEqual(["a?b.txt"]);
    expect(await expandPatterns(root, ["data/${state}/2024.csv"], { state: "*" })).toEqual([]);
  });

  it("never matches outside the root", async () => {
    const parent = tempProject({ "outside.csv": "", "proj/in.csv": "" });
    const root = path.join(parent, "proj");
    expect(
      await expandPatterns(
        root,
        [
          "../outside.csv",
          "${up}/outside.csv",
          path.join(parent, "outside.csv"),
          "*/../../outside.csv",
          path.join(root, "in.csv"),
          "sub/../in.csv",
        ],
        { up: ".." },
      ),
    ).toEqual(["in.csv"]);
  });

  it("sees files added after an earlier expansion", async () => {
    const root = tempProject(FILES);
    expect(await expandPatterns(root, ["out/*.csv"])).toEqual(["out/report.csv"]);
    writeFiles(root, { "out/extra.csv": "" });
    expect(await expandPatterns(root, ["out/*.csv"])).toEqual(["out/extra.csv", "out/report.csv"]);
    fs.rmSync(path.join(root, "out/report.csv"));
    expect(await expandPatterns(root, ["out/*.csv"])).toEqual(["out/extra.csv"]);
  });
});
