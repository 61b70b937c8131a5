import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, REPO, runCli } from "../helpers.js";

type Lib = typeof import("../../src/index.js");
/** The built package, as a library user imports it. */
const lib = (): Promise<Lib> => import(path.join(REPO, "dist", "index.js")) as Promise<Lib>;

const SPEC = `config:
  image: ghcr.io/acme/base:1
environments:
  cloud:
    config: {image: "ghcr.io/acme/cloud:2"}
graphs:
  g:
    tasks:
      a:
      b: a
tasks:
  a:
    command: ["sh", "a.sh"]
    outputs: [out/a.txt]
  b:
    command: ["sh", "b.sh"]
    compute: {cpu: 2}
`;

/** Opens a fresh project of {@link SPEC}, runs `body` on it, and closes it. */
async function withProject<T>(
  body: (project: import("../../src/index.js").Project, dir: string) => Promise<T>,
): Promise<T> {
  const { openProject } = await lib();
  const dir = makeProject({ "dagwright.yaml": SPEC, "a.sh": "true\n", "b.sh": "true\n" });
  const project = await openProject(dir);
  try {
    return await body(project, dir);
  } finally {
    await project.close();
  }
}

describe("Project.render", () => {
  it("returns what `dagwright render` writes, with the environment's config, and writes nothing", async () => {
    await withProject(async (project, dir) => {
      const before = readdirSync(dir).sort();
      const { files, warnings } = await project.render("argo", "g", { env: "cloud" });
      expect(Object.keys(files)).toEqual(["g.argo.yaml"]);
      expect(files["g.argo.yaml"]).toContain("ghcr.io/acme/cloud:2");
      expect(files["g.argo.yaml"]).not.toContain("ghcr.io/acme/base:1");
      expect(warnings).toEqual([]);
      expect(readdirSync(dir).sort()).toEqual(before);

      const out = makeProject({});
      const cli = runCli(["render", "argo", "g", "--env", "cloud", "--out", out], dir);
      expect(cli.code).toBe(0);
      expect(readFileSync(path.join(out, "g.argo.yaml"), "utf8")).toBe(files["g.argo.yaml"]);
    });
  });

  it("applies `set` overrides over the config, picking the only graph when none is named", async () => {
    await withProject(async (project) => {
      const { files } = await project.render("airflow", undefined, {
        set: ["image=ghcr.io/acme/set:3"],
      });
      const [content] = Object.values(files);
      expect(content).toContain("ghcr.io/acme/set:3");
      expect(content).not.toContain("ghcr.io/acme/base:1");
    });
  });

  it("returns the target's warnings instead of printing them", async () => {
    await withProject(async (project) => {
      const { files, warnings } = await project.render("prefect", "g", {});
      expect(Object.keys(files)).toHaveLength(1);
      expect(warnings.length).toBeGreaterThan(0);
      expect(warnings.join("\n")).toContain("b");
    });
  });

  it("rejects an unknown target or graph with a usage error naming the choices", async () => {
    await withProject(async (project) => {
      const bad = project.render("airflo" as "airflow", "g", {});
      await expect(bad).rejects.toMatchObject({
        code: "E_USAGE",
        message: 'unknown render target "airflo"',
        hint: "use one of: argo, airflow, prefect, stepfunctions",
      });
      await expect(project.render("argo", "nope", {})).rejects.toMatchObject({ code: "E_USAGE" });
    });
  });
});
