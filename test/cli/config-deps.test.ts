import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

const SET_SPEC = `config:
  region: eu
  db: {host: local}
graphs:
  g:
    tasks:
      t:
tasks:
  t: {command: ["true"]}
`;

describe("--set of a key no config defines", () => {
  it.each(["run", "status", "explain", "render"])(
    "%s exits 2 naming the key and the closest one",
    (command) => {
      const dir = makeProject({ "dagwright.yaml": SET_SPEC });
      const args =
        command === "explain"
          ? ["explain", "g", "t"]
          : command === "render"
            ? ["render", "argo", "g", "--out", "rendered"]
            : [command, "g"];
      const r = runCli([...args, "--set", "regoin=us"], dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        'error: --set regoin: no config defines "regoin". Did you mean "region"?',
      );
      expect(r.stderr).toContain("config keys of this graph: region, db");
    },
  );

  it("checks nested keys too, and accepts keys that exist", () => {
    const dir = makeProject({ "dagwright.yaml": SET_SPEC });
    const bad = runCli(["run", "g", "--set", "db.hots=x"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no config defines "db.hots". Did you mean "db.host"?');
    const ok = runCli(["run", "g", "--set", "db.host=remote", "--set", "region=us"], dir);
    expect(ok.stderr).not.toContain("error");
    expect(ok.code).toBe(0);
  });
});
