import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

/** A graph of `n` independent one-line tasks. */
function wideSpec(n: number): string {
  const names = Array.from({ length: n }, (_, i) => `t${i}`);
  return [
    "settings: {docker_image: img}",
    "graphs:",
    "  g:",
    "    tasks:",
    ...names.map((t) => `      ${t}:`),
    "tasks:",
    ...names.map((t) => `  ${t}: {command: [echo, "${t}"]}`),
    "",
  ].join("\n");
}

describe("render argo: a manifest too large for Kubernetes", () => {
  it("still writes it, and warns with its size and what to do", () => {
    const dir = makeProject({ "dagwright.yaml": wideSpec(5000) });
    const r = runCli(["render", "argo", "--out", "m"], dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^warning: g\.argo\.yaml is \d+\.\d MiB, over the 1\.5 MiB Kubernetes accepts for one object/m,
    );
    expect(r.stderr).toContain("group:");
    expect(existsSync(path.join(dir, "m", "g.argo.yaml"))).toBe(true);
  });

  it("says nothing for a manifest that fits", () => {
    const r = runCli(
      ["render", "argo", "--out", "m"],
      makeProject({ "dagwright.yaml": wideSpec(50) }),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });
});
