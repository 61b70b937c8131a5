import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

interface Event {
  type: string;
  task?: string;
}

/** Runs the pipeline and returns the tasks it started. */
function ran(dir: string, env: Record<string, string> = {}): string[] {
  const r = runCli(["run", "--json"], dir, env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return jsonLines<Event>(r.stdout)
    .filter((e) => e.type === "task-start")
    .map((e) => e.task!);
}

describe("code discovery of command tasks", () => {
  it("runs `touch o/x` once and finds it fresh on the second run", () => {
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      mark:
tasks:
  mark:
    command: ["touch", "o/x"]
    outputs: ["o/x"]
`,
      "o/.keep": "",
    });
    expect(ran(dir)).toEqual(["mark"]);
    expect(ran(dir)).toEqual([]);
  });

  it("keeps a command and its downstream fresh when its argument is an output it rewrites every run", () => {
    // A program on PATH that changes its argument on every call, like `sqlite3 db.file ...`.
    const bin = mkdtempSync(path.join(os.tmpdir(), "dagwright-bin-"));
    const stamp = path.join(bin, "stamp");
    writeFileSync(stamp, '#!/bin/sh\nod -An -N8 -tx8 /dev/urandom >> "$1"\n');
    chmodSync(stamp, 0o755);
    const env = { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}` };
    const dir = makeProject({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      db:
      report: db
tasks:
  db:
    command: ["stamp", "state/db.file"]
    outputs: ["state/*.file"]
  report:
    command: ["sh", "report.sh"]
    outputs: ["report.txt"]
`,
      "state/.keep": "",
      "report.sh": "echo done > report.txt\n",
    });
    expect(ran(dir, env)).toEqual(["db", "report"]);
    expect(ran(dir, env)).toEqual([]);
    expect(ran(dir, env)).toEqual([]);
  });
});
