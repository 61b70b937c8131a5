import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { findCodeFiles, findPythonFunctionCode } from "../../src/fingerprint/find-code-files.js";
import { FsSnapshot } from "../../src/fingerprint/fs-snapshot.js";
import { parseNodeImports } from "../../src/fingerprint/node-imports.js";
import { parsePythonImports } from "../../src/fingerprint/python-imports.js";
import { parseRSources } from "../../src/fingerprint/r-sources.js";
import { parseShellSources } from "../../src/fingerprint/shell-sources.js";
import { taskOf, tempProject, writeFiles } from "./project.js";

const SETTINGS = { pyTasksDirs: ["py_tasks"], rTasksDirs: ["r_tasks"] };

describe("findCodeFiles for Python", () => {
  it("follows a helper package in py_tasks_dirs transitively and ignores stdlib and third-party imports", async () => {
    const root = tempProject({
      "py_tasks/extract.py": [
        "import os",
        "import pandas as pd",
        "from helpers.io import read_csv",
        "",
        "def extract():",
        "    return read_csv('x')",
      ].join("\n"),
      "py_tasks/helpers/__init__.py": "",
      "py_tasks/helpers/io.py": "import json\nfrom .paths import data_dir\n",
      "py_tasks/helpers/paths.py": "from pathlib import Path\nfrom . import consts\n",
      "py_tasks/helpers/consts.py": "DATA = 'data'\n",
      "py_tasks/helpers/unused.py": "",
      "py_tasks/other.py": "",
    });
    const task = taskOf({ name: "extract", kind: "python", file: "py_tasks/extract.py" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual([
      "py_tasks/extract.py",
      "py_tasks/helpers/__init__.py",
      "py_tasks/helpers/consts.py",
      "py_tasks/helpers/io.py",
      "py_tasks/helpers/paths.py",
    ]);
  });

  it("finds modules next to the file, in py_tasks_dirs and at the root, including from-imported submodules", async () => {
    const root = tempProject({
      "tasks/run.py":
        "import sibling, shared.util as u\nfrom lib import (\n  a,  # first\n  b as bee,\n)\n",
      "tasks/sibling.py": "",
      "py_tasks/shared/__init__.py": "",
      "py_tasks/shared/util.py": "",
      "lib/a.py": "",
      "lib/b/__init__.py": "",
      "lib/c.py": "",
    });
    const task = taskOf({ name: "run", kind: "python", file: "tasks/run.py" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual([
      "lib/a.py",
      "lib/b/__init__.py",
      "py_tasks/shared/__init__.py",
      "py_tasks/shared/util.py",
      "tasks/run.py",
      "tasks/sibling.py",
    ]);
  });

  it("terminates on import cycles", async () => {
    const root = tempProject({
      "a.py": "import b\n",
      "b.py": "from c import x\n",
      "c.py": "import a\nimport b\n",
    });
    const task = taskOf({ name: "a", kind: "python", file: "a.py" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual(["a.py", "b.py", "c.py"]);
  });

  it("notices a helper that appears after an earlier scan", async () => {
    const root = tempProject({ "py_tasks/t.py": "import later\n" });
    const task = taskOf({ name: "t", kind: "python", file: "py_tasks/t.py" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual(["py_tasks/t.py"]);
    writeFiles(root, { "py_tasks/later.py": "" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual([
      "py_tasks/later.py",
      "py_tasks/t.py",
    ]);
  });

  it("parses imports, not strings or comments that mention them", () => {
    const src = [
      '"""Docstring: import fake_doc"""',
      "# import fake_comment",
      "x = 'from fake_str import y'",
      "import a, b.c as d",
      "from .. import up",
      "from .mod import (",
      "    one,",
      "    two as zwei,",
      ")",
      "try: import ujson as json",
      "except ImportError: import json",
      "print(1); import semi",
      "from x import *",
    ].join("\n");
    expect(parsePythonImports(src)).toEqual([
      { level: 0, module: ["a"], names: [] },
      { level: 0, module: ["b", "c"], names: [] },
      { level: 2, module: [], names: ["up"] },
      { level: 1, module: ["mod"], names: ["one", "two"] },
      { level: 0, module: ["ujson"], names: [] },
      { level: 0, module: ["json"], names: [] },
      { level: 0, module: ["semi"], names: [] },
      { level: 0, module: ["x"], names: [] },
    ]);
  });
});

describe("findCodeFiles for R", () => {
  it("follows source() relative to the script and here() relative to the root", async () => {
    const root = tempProject({
      "B/run.R": [
        'source("helpers.R") # local',
        "# source('commented.R')",
        'source(here::here("R/common.R"))',
        "library(dplyr)",
      ].join("\n"),
      "B/helpers.R": "sys.source('../R/more.R')\n",
      "B/commented.R": "",
      "R/common.R": 'source(here("R", "deep", "x.R"))\n',
      "R/more.R": "",
      "R/deep/x.R": 'r_script("missing.R")\n',
    });
    const task = taskOf({ name: "B", kind: "r", file: "B/run.R" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual([
      "B/helpers.R",
      "B/run.R",
      "R/common.R",
      "R/deep/x.R",
      "R/more.R",
    ]);
  });

  it("falls back to r_tasks_dirs and the project root for plain paths", async () => {
    const root = tempProject({
      "scripts/t.R": "source('util.R'); source(\"top.R\")\n",
      "r_tasks/util.R": "",
      "top.R": "",
    });
    const task = taskOf({ name: "t", kind: "r", file: "scripts/t.R" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual([
      "r_tasks/util.R",
      "scripts/t.R",
      "top.R",
    ]);
  });

  it("parses literal paths only, ignoring comments, dotted names and computed here() calls", () => {
    const src = [
      'source("a.R")',
      "source(file = 'b.R', local = TRUE)",
      'data.source("no.R")',
      'source("#not-a-comment.R") # comment source("c.R")',
      "source(here(dir, 'd.R'))",
      'base::source(here::here("e", "f.R"))',
    ].join("\n");
    expect(parseRSources(src)).toEqual([
      { path: "a.R", fromRoot: false },
      { path: "b.R", fromRoot: false },
      { path: "#not-a-comment.R", fromRoot: false },
      { path: "e/f.R", fromRoot: true },
    ]);
  });
});

describe("findCodeFiles for TypeScript and JavaScript", () => {
  it("resolves ./util.js to util.ts and follows relative imports of every form", async () => {
    const root = tempProject({
      "ts/main.ts": [
        'import { helper } from "./util.js";',
        'import type { T } from "./types";',
        'import "./side-effect.mjs";',
        'export * from "./reexport.js";',
        'const lazy = await import("./lazy.js");',
        'const z = require("zod");',
        '// import "./commented.js";',
        'import fs from "node:fs";',
      ].join("\n"),
      "ts/util.ts": 'export { x } from "../lib";\n',
      "ts/types.ts": "",
      "ts/side-effect.mjs": "",
      "ts/reexport.tsx": "",
      "ts/lazy.js": "module.exports = require('./cjs.cjs')",
      "ts/cjs.cjs": "",
      "ts/commented.ts": "",
      "lib/index.ts": "",
    });
    const task = taskOf({ name: "main", kind: "node", file: "ts/main.ts" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual([
      "lib/index.ts",
      "ts/cjs.cjs",
      "ts/lazy.js",
      "ts/main.ts",
      "ts/reexport.tsx",
      "ts/side-effect.mjs",
      "ts/types.ts",
      "ts/util.ts",
    ]);
  });

  it("terminates on import cycles", async () => {
    const root = tempProject({
      "a.ts": 'import { b } from "./b.js";\nexport const a = 1;\n',
      "b.ts": 'import { a } from "./a.js";\nexport const b = a;\n',
    });
    const task = taskOf({ name: "a", kind: "node", file: "a.ts" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual(["a.ts", "b.ts"]);
  });

  it("lists relative specifiers only", () => {
    expect(
      parseNodeImports(
        'import a, { b } from "./a.js"\nimport * as c from \'../c\'\nimport x from "pkg"\n/* import "./no" */',
      ),
    ).toEqual(["./a.js", "../c"]);
  });
});

describe("findCodeFiles for shell and commands", () => {
  it("follows sourced scripts relative to the script directory", async () => {
    const root = tempProject({
      "tasks/report.sh":
        '#!/bin/sh\nset -e\n. ./lib.sh\nsource "$(dirname "$0")/env.sh"\n# . ./no.sh\n',
      "tasks/lib.sh": "source common.sh\n",
      "tasks/common.sh": ". lib.sh\n",
      "tasks/env.sh": "",
      "tasks/no.sh": "",
    });
    const task = taskOf({ name: "report", kind: "shell", file: "tasks/report.sh" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual([
      "tasks/common.sh",
      "tasks/env.sh",
      "tasks/lib.sh",
      "tasks/report.sh",
    ]);
  });

  it("counts a command's script when argv[0] or argv[1] names a project file, and recurses into it", async () => {
    const root = tempProject({
      "tasks/report.sh": ". ./lib.sh\n",
      "tasks/lib.sh": "",
      "x.py": "import helper\n",
      "helper.py": "",
      "bin/run": "#!/bin/sh\n",
    });
    const cmd = (argv: string[]) => taskOf({ name: "c", kind: "command", command: { argv } });
    expect(await findCodeFiles(root, cmd(["sh", "tasks/report.sh"]), SETTINGS)).toEqual([
      "tasks/lib.sh",
      "tasks/report.sh",
    ]);
    expect(await findCodeFiles(root, cmd(["python3", "x.py", "--fast"]), SETTINGS)).toEqual([
      "helper.py",
      "x.py",
    ]);
    expect(await findCodeFiles(root, cmd(["./bin/run"]), SETTINGS)).toEqual(["bin/run"]);
    expect(await findCodeFiles(root, cmd(["echo", "hello"]), SETTINGS)).toEqual([]);
    const shell = taskOf({
      name: "s",
      kind: "command",
      command: { shell: "python3 'x.py' > out.txt" },
    });
    expect(await findCodeFiles(root, shell, SETTINGS)).toEqual(["helper.py", "x.py"]);
  });

  it("never takes a declared output or input of a command for its program", async () => {
    const root = tempProject({
      "o/x": "",
      "db.sqlite": "",
      "data/2024/a.csv": "",
      "out/NC/stamp.py": "",
      "stamp.py": "",
    });
    const cmd = (argv: string[], over: { outputs?: string[]; inputs?: string[] }) =>
      taskOf({ name: "c", kind: "command", command: { argv }, ...over });
    const found = (task: ReturnType<typeof cmd>) => findCodeFiles(root, task, SETTINGS);
    expect(await found(cmd(["touch", "o/x"], { outputs: ["o/x"] }))).toEqual([]);
    expect(await found(cmd(["touch", "./o/x"], { outputs: ["o/x"] }))).toEqual([]);
    expect(
      await found(cmd(["sqlite3", "db.sqlite", "select 1"], { outputs: ["*.sqlite"] })),
    ).toEqual([]);
    expect(await found(cmd(["wc", "data/2024/a.csv"], { inputs: ["data/**/*.csv"] }))).toEqual([]);
    expect(await found(cmd(["touch", "o/x"], { outputs: ["o"] }))).toEqual([]);
    expect(await found(cmd(["./out/NC/stamp.py"], { outputs: ["out/${STATE}/stamp.py"] }))).toEqual(
      [],
    );
    const shell = taskOf({
      name: "s",
      kind: "command",
      command: { shell: "sqlite3 'db.sqlite' < q.sql" },
      outputs: ["db.sqlite"],
    });
    expect(await found(shell)).toEqual([]);
    // Only declared data is skipped: the program itself still counts.
    expect(await found(cmd(["python3", "stamp.py", "o/x"], { outputs: ["o/x"] }))).toEqual([
      "stamp.py",
    ]);
    expect(await found(cmd(["touch", "o/x"], { outputs: ["o/y", "ox"] }))).toEqual(["o/x"]);
  });

  it("reads command outputs relative to the outputs directory, inputs relative to the root", async () => {
    const root = tempProject({ "scratch/ns/db.sqlite": "", "db.sqlite": "" });
    const task = taskOf({
      name: "c",
      kind: "command",
      command: { argv: ["sqlite3", "scratch/ns/db.sqlite"] },
      outputs: ["db.sqlite"],
    });
    const outputsDir = path.join(root, "scratch", "ns");
    expect(await findCodeFiles(root, task, SETTINGS, undefined, outputsDir)).toEqual([]);
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual(["scratch/ns/db.sqlite"]);
    const atRoot = taskOf({ ...task, command: { argv: ["sqlite3", "db.sqlite"] } });
    expect(await findCodeFiles(root, atRoot, SETTINGS, undefined, outputsDir)).toEqual([
      "db.sqlite",
    ]);
  });

  it("still follows a file task whose code is also listed as an input", async () => {
    const root = tempProject({ "t.sh": ". ./lib.sh\n", "lib.sh": "" });
    const task = taskOf({ name: "t", kind: "shell", file: "t.sh", inputs: ["*.sh"] });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual(["lib.sh", "t.sh"]);
  });

  it("parses the source idioms of shell scripts", () => {
    expect(
      parseShellSources(
        [
          ". ./a.sh",
          "if true; then source b.sh; fi",
          'source "${BASH_SOURCE%/*}/c.sh" arg',
          'source "$HOME/.profile"',
          "echo source x.sh",
          "  . ./do-thing.sh # trailing",
        ].join("\n"),
      ),
    ).toEqual(["./a.sh", "b.sh", "./c.sh", "./do-thing.sh"]);
  });
});

describe("findCodeFiles boundaries", () => {
  it("never follows references outside the root and ignores missing files", async () => {
    const parent = tempProject({
      "outside.py": "",
      "outside.R": "",
      "proj/t.py": "from .. import outside\nimport gone\n",
      "proj/t.R": 'source("../outside.R")\nsource("/etc/hosts")\n',
      "proj/t.ts": 'import "../outside.js";\n',
    });
    const root = path.join(parent, "proj");
    fs.writeFileSync(path.join(parent, "outside.js"), "");
    for (const [kind, file] of [
      ["python", "t.py"],
      ["r", "t.R"],
      ["node", "t.ts"],
    ] as const) {
      expect(await findCodeFiles(root, taskOf({ name: "t", kind, file }), SETTINGS)).toEqual([
        file,
      ]);
    }
    const missing = taskOf({ name: "m", kind: "python", file: "missing.py" });
    expect(await findCodeFiles(root, missing, SETTINGS)).toEqual([]);
  });

  it("re-reads a file whose content changed since the last scan", async () => {
    const root = tempProject({ "t.py": "import a\n", "a.py": "", "b.py": "" });
    const task = taskOf({ name: "t", kind: "python", file: "t.py" });
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual(["a.py", "t.py"]);
    fs.writeFileSync(path.join(root, "t.py"), "import b\nimport b\n");
    expect(await findCodeFiles(root, task, SETTINGS)).toEqual(["b.py", "t.py"]);
  });

  it("answers from a shared snapshot consistently, and a new snapshot sees later changes", async () => {
    const root = tempProject({ "a.py": "import helper\n", "b.py": "import helper\n" });
    const snapshot = new FsSnapshot(root);
    const a = taskOf({ name: "a", kind: "python", file: "a.py" });
    const b = taskOf({ name: "b", kind: "python", file: "b.py" });
    expect(await findCodeFiles(root, a, SETTINGS, snapshot)).toEqual(["a.py"]);
    writeFiles(root, { "helper.py": "" });
    expect(await findCodeFiles(root, b, SETTINGS, snapshot)).toEqual(["b.py"]);
    expect(await findCodeFiles(root, b, SETTINGS, new FsSnapshot(root))).toEqual([
      "b.py",
      "helper.py",
    ]);
  });

  it("refuses a snapshot taken of another project", async () => {
    const root = tempProject({ "a.py": "" });
    const other = new FsSnapshot(tempProject());
    await expect(
      findCodeFiles(root, taskOf({ name: "a", kind: "python", file: "a.py" }), SETTINGS, other),
    ).rejects.toThrow(`FsSnapshot of ${other.root} used for project ${root}`);
  });
});

describe("findPythonFunctionCode", () => {
  const MODULE = [
    "import helpers.io",
    "",
    "def extract():",
    "    from helpers.local import value",
    "    return helpers.io.read() + value",
    "",
    "def unrelated():",
    "    from helpers.other import thing",
    "    return thing",
  ].join("\n");

  it("gives the function's pieces and the project modules its module and closure import, not those of other functions", () => {
    const root = tempProject({
      "py_tasks/extract.py": MODULE,
      "py_tasks/helpers/__init__.py": "",
      "py_tasks/helpers/io.py": "from .paths import base\n",
      "py_tasks/helpers/paths.py": "",
      "py_tasks/helpers/local.py": "",
      "py_tasks/helpers/other.py": "",
    });
    const task = taskOf({ name: "extract", kind: "python", file: "py_tasks/extract.py" });
    const code = findPythonFunctionCode(root, task, SETTINGS);
    expect(Object.keys(code?.pieces ?? {}).sort()).toEqual([
      "py_tasks/extract.py::function extract",
      "py_tasks/extract.py::imports",
    ]);
    expect(code?.files).toEqual([
      "py_tasks/helpers/__init__.py",
      "py_tasks/helpers/io.py",
      "py_tasks/helpers/local.py",
      "py_tasks/helpers/paths.py",
    ]);
  });

  it("leaves scripts, other languages and modules with top-level code to findCodeFiles", () => {
    const root = tempProject({
      "a.py": "print('script')\n",
      "b.py": "import os\nos.environ.setdefault('X', '1')\ndef b():\n    return 1\n",
      "c.R": "x <- 1\n",
    });
    for (const [name, file, kind] of [
      ["a", "a.py", "python"],
      ["b", "b.py", "python"],
      ["c", "c.R", "r"],
    ] as const)
      expect(findPythonFunctionCode(root, taskOf({ name, kind, file }), SETTINGS)).toBeUndefined();
  });
});
