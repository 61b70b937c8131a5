import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli } from "../helpers.js";

interface Event {
  type: string;
  task?: string;
  reasons?: string[];
}

const SPEC = `graphs:
  g:
    tasks:
      first:
      second:
tasks:
  first:
    file: tasks/pair.py
  second:
    file: tasks/pair.py
`;

const PAIR = `"""Two tasks in one module."""
import json

SCALE = 2


def shared(x):
    return x * SCALE


def first():
    return json.dumps(shared(1))


def second():
    return shared(2) + OFFSET


OFFSET = 10
`;

/** Runs the graph; returns each started task with its reasons. */
function started(dir: string): Record<string, string[]> {
  const r = runCli(["run", "--json"], dir);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return Object.fromEntries(
    jsonLines<Event>(r.stdout)
      .filter((e) => e.type === "task-start")
      .map((e) => [e.task!, e.reasons ?? []]),
  );
}

function edit(dir: string, from: string, to: string): void {
  const file = path.join(dir, "tasks/pair.py");
  const text = readFileSync(file, "utf8");
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
}

function project(): string {
  const dir = makeProject({ "dagwright.yaml": SPEC, "tasks/pair.py": PAIR });
  expect(Object.keys(started(dir)).sort()).toEqual(["first", "second"]);
  expect(started(dir)).toEqual({});
  return dir;
}

describe("function-level fingerprints of Python function tasks", () => {
  it("reruns only the task whose function changed, naming the function", () => {
    const dir = project();
    edit(dir, "json.dumps(shared(1))", "json.dumps(shared(1) + 1)");
    expect(started(dir)).toEqual({ first: ["code: function first in tasks/pair.py changed"] });
  });

  it("reruns both tasks when the helper they share changes", () => {
    const dir = project();
    edit(dir, "return x * SCALE", "return x * SCALE * 1");
    expect(started(dir)).toEqual({
      first: ["code: function shared in tasks/pair.py changed"],
      second: ["code: function shared in tasks/pair.py changed"],
    });
  });

  it("reruns nothing when an unrelated function is added or a comment between functions changes", () => {
    const dir = project();
    writeFileSync(
      path.join(dir, "tasks/pair.py"),
      `${PAIR}\n# a note\n\ndef unrelated():\n    return 3\n`,
    );
    expect(started(dir)).toEqual({});
  });

  it("reruns only the task using a constant defined after it when the constant changes", () => {
    const dir = project();
    edit(dir, "OFFSET = 10", "OFFSET = 11");
    expect(started(dir)).toEqual({ second: ["code: name OFFSET in tasks/pair.py changed"] });
  });

  it("hashes the whole module once it runs code on import, and says so", () => {
    const dir = project();
    edit(dir, "SCALE = 2\n", "SCALE = 2\nprint('imported')\n");
    const reason = ["code: tasks/pair.py now fingerprinted as a whole file"];
    expect(started(dir)).toEqual({ first: reason, second: reason });
  });

  it("names the changed function in explain", () => {
    const dir = project();
    edit(dir, "shared(2) + OFFSET", "shared(3) + OFFSET");
    const r = runCli(["explain", "g", "second"], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("  - code: function second in tasks/pair.py changed\n");
    expect(r.stdout).toContain("  code tasks/pair.py::function shared: ");
  });

  it("reruns once, saying the scheme changed, over a state store written with whole-file code parts", () => {
    const dir = project();
    // What the previous build recorded: the task file hashed whole.
    const db = new Database(path.join(dir, ".dagwright", "state.db"));
    const fileHash = createHash("sha256").update(PAIR).digest("hex");
    const rows = db.prepare("SELECT attempt_id, parts FROM attempts").all() as {
      attempt_id: number;
      parts: string;
    }[];
    for (const row of rows) {
      const parts = JSON.parse(row.parts) as { code: Record<string, string> };
      parts.code = { "tasks/pair.py": fileHash };
      db.prepare("UPDATE attempts SET parts = ?, fingerprint = ? WHERE attempt_id = ?").run(
        JSON.stringify(parts),
        "old-build",
        row.attempt_id,
      );
    }
    db.close();
    // A new build never reuses the old build's no-change memo.
    rmSync(path.join(dir, ".dagwright", "cache"), { recursive: true, force: true });
    const reason = [
      "code: tasks/pair.py now fingerprinted per function (fingerprint scheme changed)",
    ];
    expect(started(dir)).toEqual({ first: reason, second: reason });
    expect(started(dir)).toEqual({});
  });
});
