import { existsSync, mkdtempSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

const spec = (command: string) =>
  `graphs: {g: {tasks: {a: }}}\ntasks:\n  a: {command: [sh, -c, '${command}'], outputs: [out/x.txt]}\n`;

describe("an output directory that is a symbolic link to outside the project", () => {
  it("fails the task before it runs, and nothing is written there", () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), "dagwright-elsewhere-"));
    const dir = makeProject({ "dagwright.yaml": spec("echo hi > out/x.txt; echo ran > ran.txt") });
    symlinkSync(elsewhere, path.join(dir, "out"));
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `output out/x.txt leads to ${path.join(elsewhere, "x.txt")}, outside ${dir}, through a symbolic link`,
    );
    expect(existsSync(path.join(dir, "ran.txt"))).toBe(false);
    expect(existsSync(path.join(elsewhere, "x.txt"))).toBe(false);
  });

  it("never records an output the task itself routed outside through a link", () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), "dagwright-elsewhere-"));
    const dir = makeProject({
      "dagwright.yaml": spec(`ln -s ${elsewhere} out && echo hi > out/x.txt`),
    });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("exited 0, but output out/x.txt leads to");
    expect(runCli(["status"], dir).stdout).toMatch(/a\s+failed/);
  });
});

describe("a fan-out item whose output directory is a link to outside the project", () => {
  it("fails that item only: the other items run and are recorded", () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), "dagwright-elsewhere-"));
    const dir = makeProject({
      "dagwright.yaml": [
        "graphs: {g: {tasks: {keys: , each: keys}}}",
        "tasks:",
        "  keys: {file: keys.py, cache_result: true, iterable_item: key}",
        "  each:",
        "    map_over: key",
        `    command: [sh, -c, 'mkdir -p out/$key && echo $key > out/$key/x.txt']`,
        '    outputs: ["out/${key}/x.txt"]',
        "",
      ].join("\n"),
      "keys.py": "def keys():\n    return ['a', 'b', 'c', 'd']\n",
      "out/.keep": "",
    });
    symlinkSync(elsewhere, path.join(dir, "out", "c"));
    const r = runCli(["run", "-j", "2"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("3/4 items done, 1 failed (c: ");
    expect(r.stderr).toContain("leads to");
    expect(existsSync(path.join(elsewhere, "x.txt"))).toBe(false);
    // The three others were recorded; c never started.
    expect(runCli(["status"], dir).stdout).toMatch(
      /each\s+stale\s+3\/4 items done, 1 to run \(c: /,
    );
  });
});
