import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { launchTask } from "../../src/tasks/launch-task.js";
import { makeTask, tempProject } from "./helpers.js";

const project = tempProject("py");

function pyTask(name: string, file: string, fn?: string) {
  return makeTask({
    name,
    kind: "python",
    file,
    function: fn ?? name,
    functionExplicit: fn !== undefined,
  });
}

describe("python function tasks", () => {
  it("fills parameters from deps, args, config, pipeline_config and defaults, in that order", async () => {
    project.write(
      "tasks/fill.py",
      [
        "def fill(a, b, c, d, pipeline_config, runtime_config, e='default'):",
        "    print('filling', a)",
        "    return {'a': a, 'b': b, 'c': c, 'd': d, 'e': e,",
        "            'scratch': pipeline_config.scratch_dir, 'cfg': runtime_config['d']}",
      ].join("\n"),
    );
    const r = await launchTask(
      project.request(pyTask("fill", "tasks/fill.py"), {
        inputs: {
          deps: { a: "from-deps" },
          args: { a: "from-args", b: "from-args" },
          config: { a: "from-config", b: "from-config", c: "from-config", d: 4 },
        },
      }),
    );
    expect(r.status).toBe("succeeded");
    expect(r.result).toEqual({
      a: "from-deps",
      b: "from-args",
      c: "from-config",
      d: 4,
      e: "default",
      scratch: `${project.root}/scratch`,
      cfg: 4,
    });
    expect(r.exitCode).toBe(0);
    expect(r.logTail).toEqual(["filling from-deps"]);
  });

  it("gives map items as parameters, ahead of args", async () => {
    project.write(
      "tasks/per_state.py",
      "def per_state(state, year):\n    return f'{state}-{year}'\n",
    );
    const r = await launchTask(
      project.request(pyTask("per_state", "tasks/per_state.py"), {
        inputs: { deps: {}, args: { state: "XX", year: 2024 }, config: {}, item: { state: "NC" } },
      }),
    );
    expect(r.result).toBe("NC-2024");
  });

  it("replaces an arg written {ref: dep} by that dependency's result", async () => {
    project.write("tasks/alias.py", "def alias(rows):\n    return len(rows)\n");
    const r = await launchTask(
      project.request(pyTask("alias", "tasks/alias.py"), {
        inputs: { deps: { load: [1, 2, 3] }, args: { rows: { ref: "load" } }, config: {} },
      }),
    );
    expect(r.result).toBe(3);
  });

  it("calls the function named in file.py:func", async () => {
    project.write("tasks/multi.py", "def one():\n    return 1\n\ndef two():\n    return 2\n");
    const r = await launchTask(project.request(pyTask("multi", "tasks/multi.py", "two")));
    expect(r.result).toBe(2);
  });

  it("converts a str to Path for a parameter annotated Path", async () => {
    project.write(
      "tasks/paths.py",
      [
        "from pathlib import Path",
        "def paths(target: Path, raw: str):",
        "    return [type(target).__name__, target.name, type(raw).__name__]",
      ].join("\n"),
    );
    const r = await launchTask(
      project.request(pyTask("paths", "tasks/paths.py"), {
        inputs: { deps: {}, args: { target: "out/a.csv", raw: "out/b.csv" }, config: {} },
      }),
    );
    expect(r.result).toEqual(["PosixPath", "a.csv", "str"]);
  });

  it("converts under `from __future__ import annotations` too", async () => {
    project.write(
      "tasks/future.py",
      [
        "from __future__ import annotations",
        "import pathlib",
        "def future(target: pathlib.Path | None):",
        "    return type(target).__name__",
      ].join("\n"),
    );
    const r = await launchTask(
      project.request(pyTask("future", "tasks/future.py"), {
        inputs: { deps: {}, args: { target: "x" }, config: {} },
      }),
    );
    expect(r.result).toBe("PosixPath");
  });

  it("fails with kptn's message when required arguments are missing", async () => {
    project.write("tasks/needs.py", "def needs(x, y, z=1, **rest):\n    return x\n");
    const r = await launchTask(project.request(pyTask("needs", "tasks/needs.py")));
    expect(r.status).toBe("failed");
    expect(r.error).toBe("Task 'needs' callable 'needs' is missing required arguments: x, y");
    expect(r.logTail.at(-1)).toContain("missing required arguments: x, y");
  });

  it("awaits an async function", async () => {
    project.write(
      "tasks/later.py",
      "import asyncio\nasync def later():\n    await asyncio.sleep(0)\n    return 'done'\n",
    );
    const r = await launchTask(project.request(pyTask("later", "tasks/later.py")));
    expect(r.result).toBe("done");
  });

  it("reports an exception as ExcType: message with the traceback in the log", async () => {
    project.write("tasks/boom.py", "def boom():\n    raise ValueError('boom')\n");
    const req = project.request(pyTask("boom", "tasks/boom.py"));
    const r = await launchTask(req);
    expect(r.status).toBe("failed");
    expect(r.error).toBe("ValueError: boom");
    expect(r.exitCode).toBe(1);
    const log = readFileSync(req.logPath, "utf8");
    expect(log).toContain("Traceback (most recent call last)");
    expect(log).toContain("raise ValueError('boom')");
    expect(r.logTail).toContain("ValueError: boom");
  });

  it("fails naming the type when the result is not JSON-serializable", async () => {
    project.write(
      "tasks/frame.py",
      [
        "class DataFrame:",
        "    pass",
        "def frame():",
        "    return DataFrame()",
        "def nested():",
        "    return {'ok': 1, 'bad': {1, 2}}",
      ].join("\n"),
    );
    const r = await launchTask(project.request(pyTask("frame", "tasks/frame.py")));
    expect(r.status).toBe("failed");
    expect(r.error).toMatch(/^task 'frame' returned a DataFrame, which is not JSON-serializable/);
    const n = await launchTask(project.request(pyTask("frame", "tasks/frame.py", "nested")));
    expect(n.error).toMatch(/^task 'frame' returned a dict containing a set, which is not JSON/);
  });

  it("fails when an explicitly named function does not exist", async () => {
    project.write("tasks/lacks.py", "def other():\n    return 1\n");
    const r = await launchTask(project.request(pyTask("lacks", "tasks/lacks.py", "missing")));
    expect(r.status).toBe("failed");
    expect(r.error).toBe("function 'missing' not found in tasks/lacks.py");
  });

  it("imports sibling modules, the project root and DAGWRIGHT_PYTHONPATH dirs", async () => {
    project.write("tasks/sib.py", "VALUE = 'sibling'\n");
    project.write("common.py", "VALUE = 'root'\n");
    project.write("lib/extra_mod.py", "VALUE = 'extra'\n");
    project.write(
      "tasks/imports.py",
      "import sib, common, extra_mod\ndef imports():\n    return [sib.VALUE, common.VALUE, extra_mod.VALUE]\n",
    );
    const r = await launchTask(
      project.request(pyTask("imports", "tasks/imports.py"), {
        env: { DAGWRIGHT_PYTHONPATH: "lib" },
      }),
    );
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual(["sibling", "root", "extra"]);
  });

  it("reports the runner's own peak memory and CPU time", async () => {
    project.write("tasks/measured.py", "def measured():\n    return sum(range(100000))\n");
    const r = await launchTask(project.request(pyTask("measured", "tasks/measured.py")));
    expect(r.peakRssKb).toBeGreaterThan(1000);
    expect(r.cpuMs).toBeGreaterThanOrEqual(0);
  });
});

describe("python scripts", () => {
  it("runs a file without the function as a script, once, with item values in the environment", async () => {
    project.write(
      "tasks/script.py",
      [
        "import os, sys",
        "print('script', __name__, os.environ['state'], os.environ['OUTPUT_PIPELINE_DIR'])",
      ].join("\n"),
    );
    const r = await launchTask(
      project.request(pyTask("script", "tasks/script.py"), {
        inputs: { deps: {}, args: {}, config: {}, item: { state: "NC" } },
        env: { OUTPUT_PIPELINE_DIR: "/out" },
      }),
    );
    expect(r.status).toBe("succeeded");
    expect(r.result).toBeUndefined();
    expect(r.logTail).toEqual(["script __main__ NC /out"]);
  });

  it("reports a script's sys.exit code", async () => {
    project.write("tasks/quits.py", "import sys\nprint('bye')\nsys.exit(3)\n");
    const r = await launchTask(project.request(pyTask("quits", "tasks/quits.py")));
    expect(r.status).toBe("failed");
    expect(r.exitCode).toBe(3);
    expect(r.error).toBe("exit code 3");
  });

  it("fails a file that only defines other functions instead of running it as a script", async () => {
    // validate rejects this; the runner keeps the same rule for a file changed after loading.
    project.write("tasks/only_defs.py", "def only_def():\n    print('never')\n");
    const r = await launchTask(project.request(pyTask("only_defs", "tasks/only_defs.py")));
    expect(r.status).toBe("failed");
    expect(r.error).toBe(
      'tasks/only_defs.py defines functions (only_def) but none named after the task "only_defs", and has no `if __name__ == "__main__":` block, so running it would only define them (name the function with `file: tasks/only_defs.py:func`, or add a main block)',
    );
  });

  it("does not treat a function defined under the __main__ guard as the task function", async () => {
    project.write(
      "tasks/guarded.py",
      "if __name__ == '__main__':\n    def guarded():\n        pass\n    print('ran as script')\n",
    );
    const r = await launchTask(project.request(pyTask("guarded", "tasks/guarded.py")));
    expect(r.status).toBe("succeeded");
    expect(r.logTail).toEqual(["ran as script"]);
  });
});
