import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, REPO } from "../helpers.js";

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

  it("opens a project and runs it from code", async () => {
    const lib = (await import(
      path.join(REPO, "dist", "index.js")
    )) as typeof import("../../src/index.js");
    const dir = makeProject({
      "dagwright.yaml": [
        "graphs:",
        "  main:",
        "    tasks:",
        "      hello:",
        "tasks:",
        "  hello:",
        '    command: ["sh", "-c", "mkdir -p out && echo hi > out/hello.txt"]',
        "    outputs: [out/hello.txt]",
        "",
      ].join("\n"),
    });
    const project = await lib.openProject(dir);
    try {
      const events: import("../../src/index.js").RunEvent[] = [];
      const run = await project.run({}, { observer: (e) => events.push(e) });
      expect(run.status).toBe("succeeded");
      expect(events.map((e) => e.type)).toContain("task-done");
      expect(readFileSync(path.join(dir, "out", "hello.txt"), "utf8")).toBe("hi\n");
      const status = await project.status();
      expect(status.tasks.map((t) => [t.task, t.state])).toEqual([["hello", "fresh"]]);
      const { assessment, changes } = await project.explain("hello");
      expect([assessment.state, changes]).toEqual(["fresh", []]);
    } finally {
      await project.close();
    }
  });
});
