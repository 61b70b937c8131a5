import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, runCli } from "../helpers.js";

/** A copy of test/fixtures/kptn-mock (kptn's mock_pipeline layout) to run in. */
function fixture(): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-kptn-")), "mock");
  cpSync(path.join(REPO, "test", "fixtures", "kptn-mock"), dir, { recursive: true });
  return dir;
}

const ran = (stderr: string) => /(\d+) ran, (\d+) fresh/.exec(stderr)?.slice(1).map(Number);

describe("a kptn mock pipeline runs unchanged", () => {
  it("runs R and Python tasks that import kptn, then reruns only what an edit touches", () => {
    const dir = fixture();
    const first = runCli(["run", "sample"], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(ran(first.stderr)).toEqual([5, 0]);
    expect(ran(runCli(["run", "sample"], dir).stderr)).toEqual([0, 5]);
    // A file the R task sources through another: only that task reruns.
    appendFileSync(path.join(dir, "r_tasks/A/sample.R"), "# edited\n");
    const afterR = runCli(["run", "sample"], dir);
    expect(afterR.stderr).toContain("▶ A: code changed: r_tasks/A/sample.R");
    expect(ran(afterR.stderr)).toEqual([1, 4]);
    // A Python task is fingerprinted by its function (kptn's rule): a new function beside it
    // reruns nothing, an edit inside it reruns it.
    const e = path.join(dir, "py_tasks/E.py");
    appendFileSync(e, "\n\ndef unrelated():\n    return 1\n");
    expect(ran(runCli(["run", "sample"], dir).stderr)).toEqual([0, 5]);
    writeFileSync(e, readFileSync(e, "utf8").replace('+ "E")', '+ "E!")'));
    const afterPy = runCli(["run", "sample"], dir);
    expect(afterPy.stderr).toContain("▶ E: code: function E in py_tasks/E.py changed");
    expect(ran(afterPy.stderr)).toEqual([1, 4]);
  });

  it("resumes a bundled, grouped fan-out at the item that failed", () => {
    const dir = fixture();
    const first = runCli(["run", "combotest"], dir);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain(
      "4/5 items done, 1 failed (T1,1: ValueError: Purposefully failing for testing)",
    );
    const second = runCli(["run", "combotest"], dir);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain("combo_process: 5 items, 1 to run, 4 fresh");
    expect(ran(runCli(["run", "combotest"], dir).stderr)).toEqual([0, 2]);
  });

  it("runs an R fan-out with bundles, groups and per-item log names", () => {
    const dir = fixture();
    const first = runCli(["run", "bundlegroup_R"], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(ran(first.stderr)).toEqual([2, 0]);
    expect(ran(runCli(["run", "bundlegroup_R"], dir).stderr)).toEqual([0, 2]);
  });
});
