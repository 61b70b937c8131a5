import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type PythonEntry, pythonEntryOf } from "../../src/spec/check-task-functions.js";
import { scanPythonModule } from "../../src/spec/python-module-facts.js";

const RUNTIME = path.resolve(import.meta.dirname, "../../runtime");

/** Modules that probe the scanner's edges, each with the function the task would call. */
const MODULES: { name: string; source: string; fn: string }[] = [
  { name: "a plain function", source: "def clean():\n    pass\n", fn: "clean" },
  { name: "a typo", source: "def cleen():\n    pass\n", fn: "clean" },
  { name: "no functions", source: "import os\nos.makedirs('o', exist_ok=True)\n", fn: "clean" },
  {
    name: "a main block",
    source: "def helper():\n    pass\n\nif __name__ == '__main__':\n    helper()\n",
    fn: "clean",
  },
  {
    name: "a def only under the main block",
    source: 'def h():\n    pass\nif __name__ == "__main__":\n    def clean():\n        pass\n',
    fn: "clean",
  },
  {
    name: "an async def with decorators",
    source:
      "import functools\n\n@functools.cache\n@other(\n  x=1,\n)\nasync def clean():\n    pass\n",
    fn: "clean",
  },
  {
    name: "a def in a docstring",
    source: '"""\ndef clean():\n    pass\n"""\n\ndef other():\n    s = """\ndef clean(): pass"""\n',
    fn: "clean",
  },
  { name: "a def in a comment", source: "# def clean():\ndef other():\n    pass\n", fn: "clean" },
  { name: "a nested def", source: "def outer():\n    def clean():\n        pass\n", fn: "clean" },
  { name: "a method", source: "class K:\n    def clean(self):\n        pass\n", fn: "clean" },
  {
    name: "an import alias",
    source: "from lib import run as clean\ndef x():\n    pass\n",
    fn: "clean",
  },
  { name: "a dotted import", source: "import clean.sub\ndef x():\n    pass\n", fn: "clean" },
  { name: "a star import", source: "from lib import *\ndef x():\n    pass\n", fn: "clean" },
  { name: "an assignment", source: "def x():\n    pass\nclean = x\n", fn: "clean" },
  {
    name: "a tuple assignment",
    source: "def x():\n    pass\na, (b, clean) = 1, (2, x)\n",
    fn: "clean",
  },
  {
    name: "an annotated assignment",
    source: "def x():\n    pass\nclean: object = x\n",
    fn: "clean",
  },
  { name: "a comparison, not a binding", source: "def x():\n    pass\nclean == 1\n", fn: "clean" },
  {
    name: "a def under try/except",
    source: "try:\n    import fast\nexcept ImportError:\n    def clean():\n        pass\n",
    fn: "clean",
  },
  {
    name: "a def in a for loop",
    source: "def x():\n    pass\nfor i in []:\n    clean = i\n",
    fn: "clean",
  },
  {
    name: "a def in an if/else",
    source:
      "import sys\nif sys.version_info > (3,):\n    def clean():\n        pass\nelse:\n    pass\n",
    fn: "clean",
  },
  {
    name: "a one-line if body",
    source: "import sys\ndef x():\n    pass\nif sys.argv: clean = x\n",
    fn: "clean",
  },
  {
    name: "a with block",
    source: "import contextlib\nwith contextlib.suppress():\n    clean = 1\n",
    fn: "clean",
  },
  { name: "a class", source: "class clean:\n    pass\ndef x():\n    pass\n", fn: "clean" },
  {
    name: "an f-string holding a def",
    source: "x = f'''\ndef clean():'''\ndef y():\n    pass\n",
    fn: "clean",
  },
  {
    name: "brackets across lines",
    source: "CONFIG = {\n    'a': 1,\n}\ndef helper(\n    a,\n):\n    pass\n",
    fn: "clean",
  },
];

/** The runner's own decision for each module, by runtime/dagwright_task.py `entry_of`. */
function runnerEntries(explicit: boolean): PythonEntry[] {
  const program = `
import ast, json, sys
sys.path.insert(0, ${JSON.stringify(RUNTIME)})
import dagwright_task as rt
out = []
for m in json.load(sys.stdin):
    tree = ast.parse(m["source"])
    try:
        out.append("function" if rt.entry_of(tree, m["fn"], ${explicit ? "True" : "False"}, "x.py") else "script")
    except rt.TaskFailure:
        out.append("ambiguous")
print(json.dumps(out))
`;
  const r = spawnSync("python3", ["-c", program], {
    input: JSON.stringify(MODULES),
    encoding: "utf8",
  });
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as PythonEntry[];
}

describe("validate decides function-or-script as the Python runner does", () => {
  it("agrees with the runner on every module when the function is the task's name", () => {
    const ours = MODULES.map((m) => pythonEntryOf(scanPythonModule(m.source), m.fn, false));
    const runner = runnerEntries(false);
    expect(new Set(runner)).toEqual(new Set(["function", "script", "ambiguous"]));
    expect(MODULES.map((m, i) => `${m.name}: ${ours[i]}`)).toEqual(
      MODULES.map((m, i) => `${m.name}: ${runner[i]}`),
    );
  });

  it("calls the function named after the task, runs plain files and main blocks as scripts", () => {
    const entry = (source: string) => pythonEntryOf(scanPythonModule(source), "clean", false);
    expect(entry("def clean():\n    pass\n")).toBe("function");
    expect(entry("print('hi')\n")).toBe("script");
    expect(entry("def h():\n    pass\nif __name__ == '__main__':\n    h()\n")).toBe("script");
    expect(entry("def cleen():\n    pass\n")).toBe("ambiguous");
  });

  it("finds a named function only where the runner's getattr would", () => {
    const entry = (source: string) => pythonEntryOf(scanPythonModule(source), "clean", true);
    expect(entry("def cleen():\n    pass\n")).toBe("missing");
    expect(entry("x = '''\ndef clean():\n'''\n")).toBe("missing");
    expect(entry("from lib import *\n")).toBe("function");
    expect(entry("globals()['clean'] = print\n")).toBe("function");
    expect(entry("def __getattr__(name):\n    return print\n")).toBe("function");
    expect(entry("import sys\nsys.modules[__name__].clean = print\n")).toBe("function");
  });

  it("lists top-level functions in order, decorators and async included", () => {
    const facts = scanPythonModule(
      "@dec\ndef a():\n    def inner():\n        pass\n\nasync def b():\n    pass\nclass C:\n    def m(self):\n        pass\n",
    );
    expect(facts.functions).toEqual(["a", "b"]);
  });
});
