import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

/** `dagwright validate` in a temp project: exit code and the problem lines (hints included). */
function validate(files: Record<string, string>): { code: number; out: string } {
  const dir = makeProject(files);
  const r = runCli(["validate"], dir);
  return { code: r.code, out: r.stdout + r.stderr };
}

const DAGWRIGHT = (tasks: string, entries: string, config = "") => `${config}graphs:
  g:
    tasks:
${entries}
tasks:
${tasks}`;

describe("validate checks Python function signatures against what each graph passes", () => {
  it("reports a required parameter nothing provides, at the graph entry and the def", () => {
    const r = validate({
      "dagwright.yaml": DAGWRIGHT("  load:\n    file: tasks/load.py\n", "      load:"),
      "tasks/load.py": "import os\n\n\ndef load(year, region='NC'):\n    return year\n",
    });
    expect(r.code).toBe(2);
    expect(r.out).toContain(
      'dagwright.yaml:4:7 graphs.g.tasks.load: tasks/load.py:4: load() requires parameter "year", which nothing passes in graph "g" (no dependency result, arg, config key or item variable has that name).\n' +
        "  hint: give it a default (`year=None`), pass it with `args: {year: …}` on the task or its graph entry, add `year` to config, or depend on a task named year with `cache_result: true`",
    );
  });

  it("accepts parameters filled by dependency results, args, config of any environment, items, the runner's configs and defaults", () => {
    const r = validate({
      "dagwright.yaml": `config:
  region: NC
environments:
  cloud:
    config:
      bucket: b
graphs:
  g:
    config:
      year: 2024
    tasks:
      states:
      per_state: states
      total: {deps: [states], args: {scale: 2}}
tasks:
  states:
    file: tasks/jobs.py
    cache_result: true
    iterable_item: state
  per_state:
    file: tasks/jobs.py
    map_over: state
  total:
    file: tasks/jobs.py
`,
      "tasks/jobs.py": [
        "def states():",
        "    return ['NC']",
        "",
        "async def per_state(state, /, region, *, bucket, pipeline_config, runtime_config, extra=1):",
        "    pass",
        "",
        "def total(states, scale, year, *args, limit: int = 3, **kwargs):",
        "    pass",
        "",
      ].join("\n"),
    });
    expect(r.out).not.toContain("requires parameter");
    expect(r.out).not.toContain("no parameter");
    expect(r.code).toBe(0);
  });

  it("warns in dagwright.yaml, without failing, about a cached dependency result the function cannot accept", () => {
    const r = validate({
      "dagwright.yaml": DAGWRIGHT(
        "  a:\n    file: tasks/a.py\n    cache_result: true\n  b:\n    file: tasks/b.py\n",
        "      a:\n      b: a",
      ),
      "tasks/a.py": "def a():\n    return 1\n",
      "tasks/b.py": "def b(other=None):\n    return other\n",
    });
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      'tasks/b.py:1: b() has no parameter "a" and no **kwargs, but "a" caches its result (cache_result), which is passed to it under that name and would be dropped.',
    );
  });

  it("fails in kptn.yaml for a cached dependency result the function cannot accept, as kptn's call would", () => {
    const r = validate({
      "kptn.yaml": `settings:
  py_tasks_dir: py_tasks
graphs:
  g:
    tasks:
      a:
      b: a
tasks:
  a:
    file: a.py
    cache_result: true
  b:
    file: b.py
`,
      "py_tasks/a.py": "def a():\n    return 1\n",
      "py_tasks/b.py": "\n\ndef b(pipeline_config):\n    pass\n",
    });
    expect(r.code).toBe(2);
    expect(r.out).toMatch(
      /kptn\.yaml:7:7 graphs\.g\.tasks\.b: py_tasks\/b\.py:3: b\(\) has no parameter "a" and no \*\*kwargs, .*\(kptn calls it with that keyword, which fails\)\.\n {2}hint: add a parameter `a` \(or `\*\*kwargs`\) to b\(\), pass the result under another name with `args: \{name: \{ref: a\}\}`, or drop the dependency on a/u,
    );
  });

  it("accepts a dependency result passed under another name with a ref arg", () => {
    const r = validate({
      "dagwright.yaml": DAGWRIGHT(
        "  a:\n    file: tasks/a.py\n    cache_result: true\n  b:\n    file: tasks/b.py\n    args: {rows: {ref: a}}\n",
        "      a:\n      b: a",
      ),
      "tasks/a.py": "def a():\n    return 1\n",
      "tasks/b.py": "def b(rows):\n    return rows\n",
    });
    expect(r.out).not.toContain("parameter");
    expect(r.code).toBe(0);
  });

  it("skips decorated functions, scripts and names not bound by a single def", () => {
    const r = validate({
      "dagwright.yaml": DAGWRIGHT(
        "  deco:\n    file: tasks/deco.py\n  script:\n    file: tasks/script.py\n  alias:\n    file: tasks/alias.py\n",
        "      deco:\n      script:\n      alias:",
      ),
      "tasks/deco.py":
        "import functools\n\n@functools.lru_cache(\n    maxsize=None,\n)\ndef deco(needed):\n    pass\n",
      "tasks/script.py":
        "def helper(needed):\n    pass\n\nif __name__ == '__main__':\n    helper(1)\n",
      "tasks/alias.py": "def make(needed):\n    pass\n\nalias = make\n",
    });
    expect(r.out).not.toContain("requires parameter");
    expect(r.code).toBe(0);
  });

  it("does not check required parameters when a top-level config include makes the keys unknown", () => {
    const r = validate({
      "kptn.yaml": `config:
  include: config.json
graphs:
  g:
    tasks:
      load:
tasks:
  load:
    file: load.py
`,
      "config.json": '{"year": 2024}',
      "load.py": "def load(year):\n    pass\n",
    });
    expect(r.out).not.toContain("requires parameter");
  });

  it("reports a missing parameter once when several graphs share the task", () => {
    const r = validate({
      "dagwright.yaml": `graphs:
  g:
    tasks:
      load:
  h:
    extends: g
tasks:
  load:
    file: tasks/load.py
`,
      "tasks/load.py": "def load(year):\n    pass\n",
    });
    expect(r.code).toBe(2);
    expect(r.out.match(/requires parameter "year"/gu)).toHaveLength(1);
  });
});
