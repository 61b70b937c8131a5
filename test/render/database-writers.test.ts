import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

const SPEC = (extra: string) => `settings: { docker_image: "reg/db:1" }
graphs:
  g:
    tasks:
      a:
      b:${extra}
tasks:
  a:
    file: a.sql
    outputs: ["duckdb://main.a"]
  b:
    file: b.sql
    outputs: ["duckdb://main.b"]
`;

describe("rendering tasks that write the project database", () => {
  it("warns when two of them may run in parallel pods, and not once a dependency orders them", () => {
    const files = {
      "a.sql": "create table a as select 1;\n",
      "b.sql": "create table b as select 2;\n",
    };
    const parallel = makeProject({ "dagwright.yaml": SPEC(""), ...files });
    const r = runCli(["render", "argo", "--out", "out"], parallel);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      '"a" and "b" write the project database in parallel pods: with an artifact location each pushes the whole database file, and the last push wins',
    );
    expect(r.stderr).toContain("hint: order them with a dependency, or put them in one group");
    const ordered = makeProject({ "dagwright.yaml": SPEC(" a"), ...files });
    const o = runCli(["render", "argo", "--out", "out"], ordered);
    expect(o.code).toBe(0);
    expect(o.stderr).not.toContain("parallel pods");
  });
});
