import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { scanPythonFunctions } from "../../src/fingerprint/python-function-code.js";

/** The piece keys of `fn`'s closure, sorted; or the reason the whole module counts. */
function closure(src: string, fn: string): string[] | string {
  const c = scanPythonFunctions(src).closureOf(fn);
  return "conservative" in c ? c.conservative : Object.keys(c.pieces).sort();
}

const lines = (...l: string[]) => `${l.join("\n")}\n`;

/** Modules with a task function `task`, used by the unit cases and the differential test. */
const MODULES: Record<string, string> = {
  acrossFunctions: lines(
    "def a():",
    "    return b()",
    "def b():",
    "    return c()",
    "def c():",
    "    return 1",
    "def task():",
    "    return a()",
    "def unrelated():",
    "    return c()",
  ),
  classes: lines(
    "LIMIT = 3",
    "TAX = 0.2",
    "class Model:",
    "    size = LIMIT",
    "    def price(self, x):",
    "        return helper(x)",
    "def helper(x):",
    "    return x",
    "def task():",
    "    return Model().price(1)",
  ),
  decorators: lines(
    "import functools",
    "def logged(f):",
    "    @functools.wraps(f)",
    "    def inner(*a):",
    "        return f(*a)",
    "    return inner",
    "def other():",
    "    pass",
    "@logged",
    "def task():",
    "    return 1",
  ),
  defaultsAnnotationsLambdas: lines(
    "from pathlib import Path",
    "from typing import Optional",
    "import os.path",
    "DEFAULT = 5",
    "class Config:",
    "    pass",
    "def key(v):",
    "    return v",
    "def fmt(v):",
    "    return str(v)",
    "UNUSED = 1",
    "async def task(n: int = DEFAULT, *, cfg: Optional[Config] = None) -> Path:",
    "    def nested(xs):",
    "        return sorted(xs, key=lambda x: key(x))",
    '    return Path(f"{fmt(n)}")',
  ),
  docstringAndMain: lines(
    '"""Module docstring."""',
    "X = 1",
    "def task():",
    '    """Uses nothing named other."""',
    "    return X",
    "def other():",
    "    return 2",
    'if __name__ == "__main__":',
    "    other()",
  ),
};

describe("function closures of Python modules", () => {
  it("follows calls across functions transitively, and no further", () => {
    expect(closure(MODULES.acrossFunctions!, "task")).toEqual([
      "function a",
      "function b",
      "function c",
      "function task",
    ]);
  });

  it("includes a class with the module names its attributes and methods use", () => {
    expect(closure(MODULES.classes!, "task")).toEqual([
      "class Model",
      "function helper",
      "function task",
      "name LIMIT",
    ]);
  });

  it("includes decorators and the imports they use", () => {
    expect(closure(MODULES.decorators!, "task")).toEqual([
      "function logged",
      "function task",
      "imports",
    ]);
  });

  it("follows defaults, annotations, nested functions, lambdas and f-strings", () => {
    expect(closure(MODULES.defaultsAnnotationsLambdas!, "task")).toEqual([
      "class Config",
      "function fmt",
      "function key",
      "function task",
      "imports",
      "name DEFAULT",
    ]);
  });

  it("follows names in nested f-string fields: format specs and same-quote subscripts", () => {
    const src = lines(
      'TABLE = {"a": "old"}',
      "WIDTH = 8",
      "OTHER = 1",
      "def task(k):",
      '    return f"{TABLE[k]:>{WIDTH}}" + f"{TABLE["a"]}"',
    );
    expect(closure(src, "task")).toEqual(["function task", "name TABLE", "name WIDTH"]);
  });

  it("ignores docstrings and the main block, and strings that mention names", () => {
    expect(closure(MODULES.docstringAndMain!, "task")).toEqual(["function task", "name X"]);
  });

  it("hashes only the import statements the closure uses", () => {
    const src = lines("import os", "import json", "def task():", "    return os.sep");
    const pieces = (text: string) => {
      const c = scanPythonFunctions(text).closureOf("task");
      return "pieces" in c ? c.pieces : c;
    };
    expect(pieces(src.replace("import json", "import csv"))).toEqual(pieces(src));
    expect(pieces(src.replace("import os", "import os.path"))).not.toEqual(pieces(src));
  });

  it("keeps every top-level import as a source of project modules, used or not", () => {
    const c = scanPythonFunctions(
      lines("import setup_logging", "from .util import x", "def task():", "    return 1"),
    ).closureOf("task");
    expect("importSource" in c && c.importSource).toContain("import setup_logging");
    expect("importSource" in c && c.importSource).toContain("from .util import x");
  });

  it.each([
    [
      "top-level code",
      lines("import x", "x.setup()", "def task():", "    pass"),
      "top-level code at line 2",
    ],
    [
      "a top-level if",
      lines("if True:", "    Y = 1", "def task():", "    pass"),
      "top-level code at line 1",
    ],
    [
      "a try/except import",
      lines(
        "try:",
        "    import a",
        "except ImportError:",
        "    a = None",
        "def task():",
        "    pass",
      ),
      "top-level code at line 1",
    ],
    [
      "an attribute assignment",
      lines("import m", "m.X = 1", "def task():", "    pass"),
      "top-level code at line 2",
    ],
    [
      "an augmented assignment",
      lines("X = 1", "X += 1", "def task():", "    pass"),
      "top-level code at line 2",
    ],
    [
      "a star import",
      lines("from helpers import *", "def task():", "    pass"),
      "star import at line 1",
    ],
    [
      "a global statement",
      lines("X = 1", "def bump():", "    global X", "    X = 2", "def task():", "    pass"),
      "a global statement in the statement at line 2",
    ],
    [
      "globals()",
      lines("def task():", "    return globals()['helper']()"),
      "a dynamic name lookup at line 1",
    ],
    [
      "eval",
      lines("def task():", "    return eval('helper()')"),
      "a dynamic name lookup at line 1",
    ],
    [
      "getattr on a module",
      lines("import sys", "def task(name):", "    return getattr(sys, name)"),
      "getattr on module sys at line 2",
    ],
    [
      "sys.modules",
      lines("import sys", "def task():", "    return sys.modules[__name__]"),
      "a dynamic name lookup at line 2",
    ],
    [
      "a module __getattr__",
      lines("def __getattr__(n):", "    return n", "def task():", "    pass"),
      "a module-level __getattr__",
    ],
    [
      "a name bound twice",
      lines(
        "def helper():",
        "    return 1",
        "def helper():",
        "    return 2",
        "def task():",
        "    return helper()",
      ),
      "helper is bound more than once at the top level",
    ],
    [
      "a task name bound nowhere",
      lines("def other():", "    pass"),
      "task is not bound at the module's top level",
    ],
  ])("falls back to the whole module for %s", (_name, src, reason) => {
    expect(closure(src, "task")).toBe(reason);
  });

  it("includes in every closure what runs on import: registering decorators, calls in values, defaults and classes", () => {
    const src = lines(
      "from registry import REG",
      "import functools",
      "import logging",
      "log = logging.getLogger(__name__)",
      "PLAIN = {'a': 1}",
      "@REG.add",
      "def plugin():",
      "    return 1",
      "def default_calls(x=make()):",
      "    pass",
      "def make():",
      "    return 2",
      "class Sub(Base):",
      "    pass",
      "class Base:",
      "    pass",
      "class Counted:",
      "    n = next_id()",
      "def next_id():",
      "    return 3",
      "@functools.cache",
      "def cached():",
      "    return 4",
      "class Point:",
      "    @property",
      "    def x(self):",
      "        return unrelated()",
      "def unrelated():",
      "    return 5",
      "def task():",
      "    return REG.run_all()",
    );
    expect(closure(src, "task")).toEqual([
      "class Base",
      "class Counted",
      "class Sub",
      "function default_calls",
      "function make",
      "function next_id",
      "function plugin",
      "function task",
      "imports",
      "name log",
    ]);
  });

  it("allows getattr on an object that is not an imported module", () => {
    expect(closure(lines("def task(obj):", "    return getattr(obj, 'x')"), "task")).toEqual([
      "function task",
    ]);
  });

  it("changes a piece's hash when its text changes, and no other piece", () => {
    const src = MODULES.acrossFunctions!;
    const before = scanPythonFunctions(src).closureOf("task");
    const after = scanPythonFunctions(src.replace("return 1", "return 2")).closureOf("task");
    if ("conservative" in before || "conservative" in after) throw new Error("unexpected");
    const changed = Object.keys(after.pieces).filter((k) => after.pieces[k] !== before.pieces[k]);
    expect(changed).toEqual(["function c"]);
  });
});

/**
 * Python's own reading of each module (`ast`): the top-level names the task's closure reaches,
 * following every `Name` node and every name an import binds. The scanner must include at least
 * these (it may include more: a local that shadows a module name).
 */
const REFERENCE_CLOSURE = `
import ast, json, sys
src, fn = json.load(sys.stdin)
tree = ast.parse(src)
binders = {}
for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        binders[node.name] = node
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for a in node.names:
            binders[a.asname or a.name.split(".")[0]] = node
    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    binders[n.id] = node
seen, todo, names = set(), [fn], set()
while todo:
    name = todo.pop()
    node = binders.get(name)
    if node is None or name in names:
        continue
    names.add(name)
    if id(node) in seen:
        continue
    seen.add(id(node))
    todo.extend(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
print(json.dumps(sorted(names)))
`;

describe("function closures against Python's ast", () => {
  it.each(Object.keys(MODULES))(
    "includes every top-level name Python's ast reaches in %s",
    (name) => {
      const src = MODULES[name]!;
      const r = spawnSync("python3", ["-c", REFERENCE_CLOSURE], {
        input: JSON.stringify([src, "task"]),
        encoding: "utf8",
      });
      expect(r.stderr).toBe("");
      const reached = JSON.parse(r.stdout) as string[];
      const c = scanPythonFunctions(src).closureOf("task");
      if ("conservative" in c) throw new Error(c.conservative);
      const covered = new Set(
        Object.keys(c.pieces).flatMap((k) => k.replace(/^(function|class|name) /u, "").split(", ")),
      );
      const imported = Object.keys(c.pieces).includes("imports");
      const facts = scanPythonFunctions(src).facts;
      for (const n of reached) {
        const isImport = facts.bound.has(n) && !covered.has(n);
        expect(covered.has(n) || (isImport && imported), `${name}: ${n}`).toBe(true);
      }
    },
  );
});
