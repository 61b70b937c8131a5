import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { hintsOf, makeProject, problemsOf, runCli } from "../helpers.js";

const files = {
  "a.py": "def a():\n    return 1\n",
  "b.py": "",
  "t.ts": "export const t = () => 1;\n",
  "tasks/clean.py":
    "import os\n\n\ndef cleen():\n    os.makedirs('out', exist_ok=True)\n\n\ndef helper():\n    pass\n",
};

interface Case {
  name: string;
  yaml: string;
  message: string[];
}

const cases: Case[] = [
  {
    name: "an unknown field, with the near miss named",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    file: a.py\n    outptus: [x]\n",
    message: [
      'dagwright.yaml:8:5 tasks.a.outptus: unknown field "outptus". Did you mean "outputs"?',
    ],
  },
  {
    name: "an unknown top-level key",
    yaml: "graph:\n  g: {}\ntasks: {}\ngraphs: {}\n",
    message: ['dagwright.yaml:1:1 graph: unknown field "graph". Did you mean "graphs"?'],
  },
  {
    name: "an unknown dependency, with the near miss named",
    yaml: "graphs:\n  g:\n    tasks:\n      extract:\n      load: extrct\ntasks:\n  extract: {command: [echo]}\n  load: {command: [echo]}\n",
    message: [
      'dagwright.yaml:5:7 graphs.g.tasks.load: depends on unknown task "extrct". Did you mean "extract"?',
    ],
  },
  {
    name: "a self dependency",
    yaml: "graphs:\n  g:\n    tasks:\n      a: a\ntasks:\n  a: {command: [echo]}\n",
    message: ['dagwright.yaml:4:7 graphs.g.tasks.a: task "a" depends on itself'],
  },
  {
    name: "a cycle, with its full path",
    yaml: "graphs:\n  g:\n    tasks:\n      a: c\n      b: a\n      c: b\n      d: a\ntasks:\n  a: {command: [x]}\n  b: {command: [x]}\n  c: {command: [x]}\n  d: {command: [x]}\n",
    message: ["dagwright.yaml:4:7 graphs.g.tasks.a: cycle: a → b → c → a"],
  },
  {
    name: "a graph task without a definition",
    yaml: "graphs:\n  g:\n    tasks:\n      extract:\n      lod: extract\ntasks:\n  extract: {command: [x]}\n  load: {command: [x]}\n",
    message: [
      'dagwright.yaml:5:7 graphs.g.tasks.lod: graph "g" lists task "lod", which is not defined under tasks. Did you mean "load"?',
    ],
  },
  {
    name: "map_over without a matching iterable_item",
    yaml: "graphs:\n  g:\n    tasks:\n      list:\n      each: list\ntasks:\n  list: {file: a.py:a, cache_result: true, iterable_item: state}\n  each: {command: [x], map_over: sate}\n",
    message: [
      'dagwright.yaml:5:7 graphs.g.tasks.each: map_over "sate" is not produced by any dependency with iterable_item "sate"',
    ],
  },
  {
    name: "a ref arg that does not name a dependency",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\n      b:\ntasks:\n  a: {file: a.py, cache_result: true}\n  b: {file: b.py, args: {rows: {ref: a}}}\n",
    message: [
      'dagwright.yaml:5:7 graphs.g.tasks.b: args.rows refers to "a", which is not a dependency of "b"',
    ],
  },
  {
    name: "an output escaping the project root",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    outputs: [out/ok.csv, ../../etc/passwd]\n",
    message: [
      'dagwright.yaml:8:27 tasks.a.outputs[1]: output "../../etc/passwd" is outside the project root',
    ],
  },
  {
    name: "an in-place output escaping the project root, pointed at by its path",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    outputs: [{path: ../db.sqlite, in_place: true}]\n",
    message: [
      'dagwright.yaml:8:22 tasks.a.outputs[0].path: output "../db.sqlite" is outside the project root',
    ],
  },
  {
    name: "an output object with a misspelled field, with the near miss named",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    outputs: [{path: db.sqlite, inplace: true}]\n",
    message: [
      'dagwright.yaml:8:33 tasks.a.outputs[0].inplace: unknown field "inplace". Did you mean "in_place"?',
    ],
  },
  {
    name: "an output that is neither a pattern nor an object",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    outputs: [3]\n",
    message: [
      "dagwright.yaml:8:15 tasks.a.outputs[0]: expected a file pattern or {path: pattern, in_place: true}, received number 3",
    ],
  },
  {
    name: "an absolute output path",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    outputs: [/tmp/x]\n",
    message: [
      'dagwright.yaml:8:15 tasks.a.outputs[0]: output "/tmp/x" is outside the project root',
    ],
  },
  {
    name: "a code file escaping the project root",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    file: ../outside.py\n",
    message: ['dagwright.yaml:7:11 tasks.a.file: file "../outside.py" is outside the project root'],
  },
  {
    name: "a missing code file",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    file: tasks/nope.py\n",
    message: ['dagwright.yaml:7:11 tasks.a.file: file "tasks/nope.py" does not exist'],
  },
  {
    name: "an unknown file kind",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    file: a.rb\n",
    message: [
      'dagwright.yaml:7:11 tasks.a.file: cannot tell how to run "a.rb" from its extension ".rb"',
    ],
  },
  {
    name: "a task with neither file nor command",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    outputs: [x]\n",
    message: ['dagwright.yaml:6:3 tasks.a: missing "file" or "command"'],
  },
  {
    name: "a wrong type, expected vs received",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    retries: many\n",
    message: ['dagwright.yaml:8:14 tasks.a.retries: expected number, received the string "many"'],
  },
  {
    name: "a bad duration",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    timeout: 5 min\n",
    message: [
      'dagwright.yaml:8:14 tasks.a.timeout: expected seconds as a number, or a duration such as "90s", "15m", "2h", received the string "5 min"',
    ],
  },
  {
    name: "a bad graph entry",
    yaml: "graphs:\n  g:\n    tasks:\n      a: {deps: 3}\ntasks:\n  a: {command: [x]}\n",
    message: [
      "dagwright.yaml:4:17 graphs.g.tasks.a.deps: expected a task name or a list of task names, received number 3",
    ],
  },
  {
    name: "missing graphs",
    yaml: "tasks:\n  a: {command: [x]}\n",
    message: ['dagwright.yaml:1:1 graphs: missing required field "graphs" (expected record)'],
  },
  {
    name: "an undeclared machine type",
    yaml: "config:\n  machine_types:\n    gpu_small: {cpu: 4, memory: 16384, gpu: 1}\ngraphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    machine_type: gpu_smal\n",
    message: ['dagwright.yaml:11:19 tasks.a.machine_type: machine type "gpu_smal" is not declared'],
  },
  {
    name: "bundle_size on a task that does not map",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    command: [x]\n    bundle_size: 3\n",
    message: [
      "dagwright.yaml:8:18 tasks.a.bundle_size: bundle_size only applies to a task with map_over",
    ],
  },
  {
    name: "an extends cycle, with the chain",
    yaml: "graphs:\n  a:\n    extends: b\n  b:\n    extends: [c]\n  c:\n    extends: [a]\ntasks: {}\n",
    message: [
      "dagwright.yaml:3:14 graphs.a.extends: graphs inherit from each other in a cycle: a → b → c → a",
    ],
  },
  {
    name: "extends of an unknown graph",
    yaml: "graphs:\n  base:\n    tasks: {a: }\n  child:\n    extends: bsae\ntasks:\n  a: {command: [x]}\n",
    message: [
      'dagwright.yaml:5:14 graphs.child.extends: extends unknown graph "bsae". Did you mean "base"?',
    ],
  },
  {
    name: "duplicate keys",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a: {command: [x]}\n  a: {command: [y]}\n",
    message: ['dagwright.yaml:7:3: duplicate key "a": already at line 6, column 3'],
  },
  {
    name: "a YAML merge key",
    yaml: "base: &b {command: [x]}\ngraphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a:\n    <<: *b\n    retries: 1\n",
    message: ["dagwright.yaml:8:5: YAML merge keys (`<<: *anchor`) are not allowed"],
  },
  {
    name: "a custom YAML tag",
    yaml: "graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a: {command: !!python/object:os.system [x]}\n",
    message: ["dagwright.yaml:6:42: custom YAML tag !!python/object:os.system is not allowed"],
  },
  {
    name: "an alias bomb",
    yaml: `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\ngraphs: {}\ntasks: {}\n`,
    message: [
      "dagwright.yaml:1:1: the document expands too many aliases (Excessive alias count indicates a resource exhaustion attack)",
    ],
  },
  {
    name: "too deeply nested",
    yaml: `graphs: {}\ntasks: {}\nconfig: ${"[".repeat(80)}${"]".repeat(80)}\n`,
    message: ["dagwright.yaml:3:72: nesting is deeper than 64 levels"],
  },
  {
    name: "invalid YAML",
    yaml: "graphs:\n  g: [a\ntasks: {}\n",
    message: [
      "dagwright.yaml:3:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ],
  },
  {
    name: "a named Python function the file does not define, with the near miss named",
    yaml: "graphs:\n  g:\n    tasks:\n      clean:\ntasks:\n  clean:\n    file: tasks/clean.py:clean\n",
    message: [
      'dagwright.yaml:7:11 tasks.clean.file: tasks/clean.py defines no top-level function "clean". Did you mean "cleen"?',
    ],
  },
  {
    name: "a Python file with functions but none named after the task and no main block",
    yaml: "graphs:\n  g:\n    tasks:\n      clean:\ntasks:\n  clean:\n    file: tasks/clean.py\n",
    message: [
      'dagwright.yaml:7:11 tasks.clean.file: tasks/clean.py defines functions (cleen, helper) but none named after the task "clean", and has no `if __name__ == "__main__":` block, so running it would only define them. Did you mean "cleen"?',
    ],
  },
  {
    name: "a spec that is not a mapping",
    yaml: "- a\n- b\n",
    message: ["dagwright.yaml:1:1: expected a mapping with `graphs` and `tasks` at the top level"],
  },
];

describe("invalid specs are rejected with the full message", () => {
  it.each(cases)("$name", ({ yaml, message }) => {
    expect(problemsOf(yaml, files)).toEqual(message);
  });

  it("reports every problem in the file in one pass, in file order", () => {
    const yaml = [
      "graphs:",
      "  g:",
      "    tasks:",
      "      a: zz",
      "      b: b",
      "tasks:",
      "  a: {command: [x], retries: -1}",
      "  b: {command: [x], colour: red}",
      "",
    ].join("\n");
    expect(problemsOf(yaml)).toEqual([
      'dagwright.yaml:4:7 graphs.g.tasks.a: depends on unknown task "zz"',
      'dagwright.yaml:5:7 graphs.g.tasks.b: task "b" depends on itself',
      "dagwright.yaml:7:30 tasks.a.retries: expected a number ≥ 0, received number -1",
      'dagwright.yaml:8:21 tasks.b.colour: unknown field "colour"',
    ]);
  });

  it("says how to fix an unknown dependency that exists outside the graph", () => {
    const yaml =
      "graphs:\n  g:\n    tasks:\n      b: a\ntasks:\n  a: {command: [x]}\n  b: {command: [x]}\n";
    expect(hintsOf(yaml)).toEqual([
      '"a" is defined under tasks but not part of graph "g"; add it to graphs.g.tasks',
    ]);
  });

  it("says how to name the function or make the file a script", () => {
    const named =
      "graphs:\n  g:\n    tasks:\n      clean:\ntasks:\n  clean: {file: tasks/clean.py:clean}\n";
    expect(hintsOf(named, files)).toEqual([
      "its functions are cleen, helper; name one of them after the colon, e.g. `file: tasks/clean.py:cleen`",
    ]);
    const implicit =
      "graphs:\n  g:\n    tasks:\n      clean:\ntasks:\n  clean: {file: tasks/clean.py}\n";
    expect(hintsOf(implicit, files)).toEqual([
      'name the function to call, `file: tasks/clean.py:cleen`, or add an `if __name__ == "__main__":` block to run the file as a script',
    ]);
  });

  it("runs a Python file as a script when it defines no function, or has a main block", () => {
    const yaml = (file: string) =>
      `graphs:\n  g:\n    tasks:\n      clean:\ntasks:\n  clean: {file: ${file}}\n`;
    const scripts = {
      "plain.py": "import os\nos.makedirs('out', exist_ok=True)\n",
      "main.py": "def helper():\n    pass\n\nif __name__ == '__main__':\n    helper()\n",
      "bound.py": "from lib import run as clean\n",
    };
    for (const file of Object.keys(scripts)) expect(problemsOf(yaml(file), scripts)).toEqual([]);
  });

  it("refuses invalid UTF-8 with its byte offset and position, and keeps a real U+FFFD", () => {
    const yaml = (value: string) =>
      `graphs:\n  g:\n    tasks:\n      a:\ntasks:\n  a: {command: [echo, "${value}"]}\n`;
    const dir = makeProject({ "dagwright.yaml": "" });
    const file = path.join(dir, "dagwright.yaml");
    writeFileSync(file, Buffer.from(yaml("caf\u00e9"), "latin1"));
    const r = runCli(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "dagwright.yaml:6:27: the file is not valid UTF-8: byte 0xe9 at offset 66 starts no valid character",
    );
    writeFileSync(file, yaml("\uFFFD ok"));
    expect(runCli(["validate"], dir).code).toBe(0);
  });

  it("reports a duplicate key in a 30,000-task spec in one pass", () => {
    const n = 30_000;
    const tasks = Array.from({ length: n }, (_, i) => `  t${i}: {command: [x]}`);
    tasks.push("  t7: {command: [y]}");
    const yaml = `graphs:\n  g:\n    tasks:\n      t0:\ntasks:\n${tasks.join("\n")}\n`;
    expect(problemsOf(yaml)).toEqual([
      `dagwright.yaml:${n + 6}:3: duplicate key "t7": already at line 13, column 3`,
    ]);
  });

  it("rejects an oversized file before parsing it", () => {
    const yaml = `graphs: {}\ntasks: {}\n#${"x".repeat(5 * 1024 * 1024)}\n`;
    expect(problemsOf(yaml)).toEqual([
      "dagwright.yaml:1:1: the file is 5242903 bytes; specs are limited to 4194304 bytes",
    ]);
  });

  it("accepts a valid spec without problems", () => {
    const yaml =
      "graphs:\n  g:\n    tasks:\n      a:\n      t: a\ntasks:\n  a: {file: a.py, outputs: [out/x.csv]}\n  t: {file: t.ts}\n";
    expect(problemsOf(yaml, files)).toEqual([]);
  });
});
