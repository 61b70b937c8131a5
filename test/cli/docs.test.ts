import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, REPO, runCli } from "../helpers.js";

describe("dagwright docs", () => {
  it("lists every bundled topic with its title, and where the example projects are", () => {
    const r = runCli(["docs"], makeProject({}));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}running +Running pipelines locally$/m);
    expect(r.stdout).toMatch(/^ {2}spec +The pipeline spec/m);
    expect(r.stdout).toContain(`Example projects to copy: ${path.join(REPO, "examples")}`);
  });

  it("prints a topic's markdown, offline, from any directory", () => {
    const r = runCli(["docs", "running"], makeProject({}));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(path.join(REPO, "docs", "running.md"), "utf8"));
    expect(runCli(["docs", "running.md"], REPO).stdout).toBe(r.stdout);
  });

  it("exits 2 for an unknown topic, suggesting the near one and listing all", () => {
    const r = runCli(["docs", "runing"], REPO);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('error: no documentation topic "runing". Did you mean "running"?');
    const topics = readdirSync(path.join(REPO, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => f.slice(0, -3))
      .sort();
    expect(r.stderr).toContain(`hint: topics: ${topics.join(", ")} (run \`dagwright docs\``);
  });

  it("is where --help sends readers, instead of a docs/ folder they may not have", () => {
    const help = runCli(["--help"], REPO).stdout;
    expect(help).toContain("Docs: `dagwright docs` lists the topics");
    expect(help).not.toContain("docs/spec.md");
    expect(help).toMatch(/^ {2}docs \[TOPIC\] +print the documentation/m);
  });
});
