import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers.js";

/** Every file path an `exports` map can name (conditions nest). */
function targets(exports: unknown): string[] {
  if (typeof exports === "string") return [exports];
  if (exports === null || typeof exports !== "object") return [];
  return Object.values(exports).flatMap(targets);
}

describe("package.json", () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as {
    exports: unknown;
    bin: Record<string, string>;
  };

  it("names only files the build produces in exports and bin", () => {
    const files = [...targets(pkg.exports), ...Object.values(pkg.bin)];
    expect(files).toContain("./dist/index.js");
    expect(files.filter((f) => !existsSync(path.join(REPO, f)))).toEqual([]);
  });

  it("exports the library entry point with working functions", async () => {
    const lib = (await import(
      path.join(REPO, "dist", "index.js")
    )) as typeof import("../../src/index.js");
    const spec = lib.loadSpec({ cwd: path.join(REPO, "templates", "init") });
    expect(lib.buildGraph(spec, "main").order).toEqual(["extract", "stats", "report"]);
  });
});
