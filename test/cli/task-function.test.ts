import { existsSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

const SPEC = `graphs:
  g:
    tasks:
      clean:
tasks:
  clean:
    file: tasks/clean.py
    outputs: [out/done]
`;

/** The function is misspelled: run as a script, the file would only define it and exit 0. */
const TYPO = `import os


def cleen():
    os.makedirs("out", exist_ok=True)
    open("out/done", "w").close()
`;

const EXPECTED = [
  'error: dagwright.yaml:7:11 tasks.clean.file: tasks/clean.py defines functions (cleen) but none named after the task "clean", and has no `if __name__ == "__main__":` block, so running it would only define them. Did you mean "cleen"?',
  '  hint: name the function to call, `file: tasks/clean.py:cleen`, or add an `if __name__ == "__main__":` block to run the file as a script',
  "1 error in dagwright.yaml",
  "",
].join("\n");

describe("a Python task file with nothing to run", () => {
  it("fails validate with exit 2, where the file is named, the near miss and the fix", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "tasks/clean.py": TYPO });
    const r = runCli(["validate"], dir);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(EXPECTED);
    expect(r.code).toBe(2);
  });

  it("stops run before any task starts", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "tasks/clean.py": TYPO });
    const r = runCli(["run"], dir);
    expect(r.stderr).toBe(
      EXPECTED.replace("1 error in dagwright.yaml", "1 error; nothing was run"),
    );
    expect(r.code).toBe(2);
    expect(existsSync(path.join(dir, ".dagwright"))).toBe(false);
  });

  it("refuses to run, not succeeds, when the function is renamed after a run cached the spec", () => {
    const fixed = TYPO.replace("cleen", "clean");
    const dir = makeProject({ "dagwright.yaml": SPEC, "tasks/clean.py": fixed });
    expect(runCli(["run"], dir).code).toBe(0);
    expect(existsSync(path.join(dir, ".dagwright/spec-cache.json"))).toBe(true);
    rmSync(path.join(dir, "out/done"));
    writeFileSync(path.join(dir, "tasks/clean.py"), TYPO);
    // The spec cache rests on the task file it read while validating: a full load reports it.
    const r = runCli(["run"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain(
      'tasks/clean.py defines functions (cleen) but none named after the task "clean"',
    );
  });

  it("names the missing function of `file: x.py:fn`", () => {
    const spec = SPEC.replace("file: tasks/clean.py", "file: tasks/clean.py:clean");
    const r = runCli(["validate"], makeProject({ "dagwright.yaml": spec, "tasks/clean.py": TYPO }));
    expect(r.stderr.split("\n").slice(0, 2)).toEqual([
      'error: dagwright.yaml:7:11 tasks.clean.file: tasks/clean.py defines no top-level function "clean". Did you mean "cleen"?',
      "  hint: its functions are cleen; name one of them after the colon, e.g. `file: tasks/clean.py:cleen`",
    ]);
    expect(r.code).toBe(2);
  });

  it("runs the fixed function, and a file with a main block as a script", () => {
    const fixed = makeProject({
      "dagwright.yaml": SPEC,
      "tasks/clean.py": TYPO.replace("cleen", "clean"),
    });
    expect(runCli(["run"], fixed).code).toBe(0);
    expect(existsSync(path.join(fixed, "out/done"))).toBe(true);
    expect(existsSync(path.join(fixed, ".dagwright"))).toBe(true);
    const script = makeProject({
      "dagwright.yaml": SPEC,
      "tasks/clean.py": `${TYPO}\n\nif __name__ == "__main__":\n    cleen()\n`,
    });
    expect(runCli(["run"], script).code).toBe(0);
    expect(existsSync(path.join(script, "out/done"))).toBe(true);
  });
});
