import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

/** kptn's mock pipeline declares outputs it never writes under those names (A_${year}). */
const KPTN = `settings:
  py_tasks_dir: py_tasks
graphs:
  g:
    tasks:
      list_items:
      write: list_items
      loose:
tasks:
  list_items:
    file: py_tasks/list_items.py
    cache_result: true
    iterable_item: item
  write:
    file: py_tasks/write.py
    map_over: item
    outputs: ["D_\${year}"]
  loose:
    file: py_tasks/loose.py
    outputs: ["loose/L_\${year}.csv"]
`;

const FILES = {
  "py_tasks/list_items.py": "def list_items():\n    return ['a', 'b']\n",
  "py_tasks/write.py":
    "from pathlib import Path\nfrom kptn.util.pipeline_config import PipelineConfig\n\ndef write(pipeline_config: PipelineConfig, item):\n    (Path(pipeline_config.scratch_dir) / f'D_{item}').write_text(item)\n",
  "py_tasks/loose.py": "def loose():\n    pass\n",
};

describe("kptn output patterns", () => {
  it("globs an unfilled ${name}, warns when a pattern matches nothing, and does not fail", () => {
    const dir = makeProject({ "kptn.yaml": KPTN, ...FILES });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(0);
    // Every item writes "D_${year}" as far as item values go: a glob, not a clash.
    expect(r.stderr).not.toContain("would both write");
    expect(r.stderr).toContain(
      "! loose: declared output matched no file: loose/L_${year}.csv (kptn.yaml projects warn; set settings.strict_outputs: true to fail instead)",
    );
    expect(r.stderr).toMatch(/done: 3 ran/);
    expect(runCli(["run"], dir).stderr).toMatch(/0 ran, 3 fresh/);
  });

  it("fails such a task with settings.strict_outputs: true", () => {
    const dir = makeProject({
      "kptn.yaml": KPTN.replace("settings:\n", "settings:\n  strict_outputs: true\n"),
      ...FILES,
    });
    const r = runCli(["run", "--only", "loose"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "exited 0 but did not write its declared output: loose/L_${year}.csv",
    );
  });

  it("keeps dagwright.yaml strict", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs:\n  g:\n    tasks:\n      t:\ntasks:\n  t:\n    command: 'true'\n    outputs: [out/*.csv]\n",
    });
    const r = runCli(["run"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("did not write its declared output: out/*.csv");
  });
});
