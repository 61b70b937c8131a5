import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

describe("dagwright init", () => {
  it("writes a .gitignore for the state and scratch directories", () => {
    const dir = makeProject({});
    const r = runCli(["init"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("created .gitignore");
    expect(readFileSync(path.join(dir, ".gitignore"), "utf8")).toBe(".dagwright/\nscratch/\n");
  });

  it("appends only the missing lines to an existing .gitignore", () => {
    const dir = makeProject({ ".gitignore": "node_modules\n/.dagwright" });
    const r = runCli(["init"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("updated .gitignore (added scratch/)");
    expect(readFileSync(path.join(dir, ".gitignore"), "utf8")).toBe(
      "node_modules\n/.dagwright\nscratch/\n",
    );
    writeFileSync(path.join(dir, ".gitignore"), "scratch\n.dagwright/\n");
    const again = runCli(["init", "--force"], dir);
    expect(again.stdout).not.toContain(".gitignore");
    expect(readFileSync(path.join(dir, ".gitignore"), "utf8")).toBe("scratch\n.dagwright/\n");
  });

  it("prints next commands that work as printed: through npx, in the new directory", () => {
    const dir = makeProject({});
    expect(runCli(["init"], dir).stdout).toContain(
      "\nNext: npx dagwright validate && npx dagwright run\n",
    );
    expect(runCli(["init", "proj"], dir).stdout).toContain(
      "\nNext: cd proj && npx dagwright validate && npx dagwright run\n",
    );
    const r = runCli(["init", "my data's"], dir);
    expect(r.stdout).toContain(
      "\nNext: cd 'my data'\\''s' && npx dagwright validate && npx dagwright run\n",
    );
    expect(existsSync(path.join(dir, "my data's", ".gitignore"))).toBe(true);
  });

  it("creates a project whose run succeeds with node and python3 alone", () => {
    const dir = makeProject({});
    expect(runCli(["init"], dir).code).toBe(0);
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("done: 3 ran");
    expect(readFileSync(path.join(dir, "out", "report.txt"), "utf8")).toContain('"count": 4');
  });
});
