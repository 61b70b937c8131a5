import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";
import { describeRuns } from "./run-local-suite.js";

describeRuns({ name: "the embedded SQLite store", env: () => ({}) });

describe("dagwright run --executor", () => {
  it("rejects an executor it does not know with exit 2, naming the ones it does", () => {
    const dir = makeProject({
      "dagwright.yaml": "graphs:\n  g: {tasks: {a: }}\ntasks:\n  a:\n    command: [true]\n",
    });
    const r = runCli(["run", "--executor", "nope"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'nope' is invalid");
    expect(r.stderr).toContain("local");
  });
});
