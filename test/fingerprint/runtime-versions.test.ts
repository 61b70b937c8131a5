import { describe, expect, it } from "vitest";
import { runtimeVersions } from "../../src/fingerprint/runtime-versions.js";

describe("runtimeVersions", () => {
  it("reports only the runtimes of the kinds in use", async () => {
    expect(await runtimeVersions(new Set(["shell", "command"]))).toEqual({});
    expect(await runtimeVersions(new Set(["node"]))).toEqual({ node: process.version });
  });

  it("asks python3 and Rscript for a version, or says missing", async () => {
    const v = await runtimeVersions(new Set(["python", "r"]));
    expect(Object.keys(v).sort()).toEqual(["Rscript", "python3"]);
    for (const version of Object.values(v)) expect(version).toMatch(/^(\d+\.\d+\S*|missing)$/);
  });

  it("asks each binary once per process", async () => {
    const first = await runtimeVersions(new Set(["python"]));
    // With no python3 on PATH any more, a second question would answer "missing".
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      for (let i = 0; i < 3; i++) expect(await runtimeVersions(new Set(["python"]))).toEqual(first);
    } finally {
      process.env.PATH = path;
    }
  });
});
