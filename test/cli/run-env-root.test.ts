import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

const SPEC = `graphs:
  g:
    tasks:
      greet:
      shout: greet
tasks:
  greet:
    command: ["sh", "-c", "mkdir -p out && printf '%s\\\\n' \\"$GREETING\\" > out/greet.txt"]
    outputs: [out/greet.txt]
  shout:
    file: shout.ts
    outputs: [out/shout.txt]
`;

const FILES = {
  "proj/dagwright.yaml": SPEC,
  "proj/shout.ts": [
    'import { readFileSync, writeFileSync } from "node:fs";',
    "export function shout(): void {",
    '  writeFileSync("out/shout.txt", readFileSync("out/greet.txt", "utf8").toUpperCase());',
    "}",
    "",
  ].join("\n"),
};

describe("dagwright run's environment and working directory", () => {
  it("gives tasks the decoded value of a rendered DAGWRIGHT_ENV_B64_ variable", () => {
    const dir = makeProject(FILES);
    const encoded = Buffer.from("{{hi}}", "utf8").toString("base64");
    const r = runCli(["run"], path.join(dir, "proj"), { DAGWRIGHT_ENV_B64_GREETING: encoded });
    expect(r.stderr).not.toContain("failed");
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, "proj/out/greet.txt"), "utf8")).toBe("{{hi}}\n");
  });

  it("runs a TS task that opens relative paths against the project root when -f names a spec elsewhere", () => {
    const dir = makeProject(FILES);
    const r = runCli(["-f", "proj/dagwright.yaml", "run"], dir, { GREETING: "hello" });
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(dir, "proj/out/shout.txt"), "utf8")).toBe("HELLO\n");
  });
});
