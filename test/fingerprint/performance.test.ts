import path from "node:path";
import { describe, expect, it } from "vitest";
import { expandPatterns } from "../../src/fingerprint/expand-patterns.js";
import { findCodeFiles } from "../../src/fingerprint/find-code-files.js";
import { fingerprintOf } from "../../src/fingerprint/fingerprint.js";
import { FsSnapshot } from "../../src/fingerprint/fs-snapshot.js";
import type { FileHash } from "../../src/fingerprint/hash-file.js";
import { hashFiles } from "../../src/fingerprint/hash-files.js";
import { hashValue } from "../../src/fingerprint/hash-value.js";
import type { TaskSpec } from "../../src/spec/types.js";
import { taskOf, tempProject } from "./project.js";

const SETTINGS = { pyTasksDirs: ["py_tasks"], rTasksDirs: ["r_tasks"] };

function bigProject(): { root: string; tasks: TaskSpec[] } {
  const files: Record<string, string> = {
    "py_tasks/helpers/__init__.py": "",
    "py_tasks/helpers/io.py": "import json\nfrom .paths import data_dir\n",
    "py_tasks/helpers/paths.py": "from pathlib import Path\n",
    "r_tasks/util.R": "library(dplyr)\n",
    "R/common.R": "",
    "data/in.csv": "a,b\n1,2\n",
  };
  const tasks: TaskSpec[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 2 === 0) {
      files[`py_tasks/t${i}.py`] =
        "import os\nimport sys\nimport pandas as pd\nimport numpy as np\nfrom helpers.io import read\n";
      tasks.push(
        taskOf({
          name: `t${i}`,
          kind: "python",
          file: `py_tasks/t${i}.py`,
          inputs: ["data/*.csv"],
          args: { i },
        }),
      );
    } else {
      files[`r_tasks/t${i}.R`] =
        'library(dplyr)\nsource("util.R")\nsource(here::here("R/common.R"))\n';
      tasks.push(
        taskOf({
          name: `t${i}`,
          kind: "r",
          file: `r_tasks/t${i}.R`,
          inputs: ["data/in.csv"],
          args: { i },
        }),
      );
    }
  }
  return { root: tempProject(files), tasks };
}

/** What a planner does on a rerun: one snapshot, one hashFiles over the union, then hashing. */
async function fingerprintAll(root: string, tasks: TaskSpec[], cache: Map<string, FileHash>) {
  const snapshot = new FsSnapshot(root);
  const found = new Map<string, { code: string[]; inputs: string[] }>();
  const all = new Set<string>();
  for (const task of tasks) {
    const code = await findCodeFiles(root, task, SETTINGS, snapshot);
    const inputs = await expandPatterns(root, task.inputs, {}, snapshot);
    found.set(task.name, { code, inputs });
    for (const p of [...code, ...inputs]) all.add(path.join(root, p));
  }
  const hashes = await hashFiles(all, { get: (p) => cache.get(p), put: (p, h) => cache.set(p, h) });
  const byPath = (list: string[]) =>
    Object.fromEntries(list.map((p) => [p, hashes.get(path.join(root, p))?.hash ?? ""]));
  const result = new Map<string, string>();
  for (const task of tasks) {
    const { code, inputs } = found.get(task.name)!;
    result.set(
      task.name,
      fingerprintOf({
        definition: hashValue({ kind: task.kind, file: task.file }),
        code: byPath(code),
        args: hashValue(task.args),
        config: {},
        env: Object.fromEntries(Object.entries(task.env).map(([k, v]) => [k, hashValue(v)])),
        inputs: byPath(inputs),
        upstream: {},
        runtime: { node: process.version },
      }),
    );
  }
  return result;
}

describe("fingerprinting performance", () => {
  it("fingerprints 1,000 unchanged tasks again from the warm cache, hashing no file twice", async () => {
    // Speed itself is measured by `npm run bench`; here: a second pass reuses every cached hash
    // (the same entry objects) and gives the same fingerprints.
    const { root, tasks } = bigProject();
    const cache = new Map<string, FileHash>();
    const first = await fingerprintAll(root, tasks, cache);
    expect(first.size).toBe(1000);
    // The files were just written: let the hashes settle (see RACY_MS) as time would.
    for (const [file, e] of cache) cache.set(file, { ...e, hashedAtMs: e.hashedAtMs + 60_000 });
    const entries = new Map(cache);
    expect(entries.size).toBeGreaterThan(0);
    const again = await fingerprintAll(root, tasks, cache);
    expect(again).toEqual(first);
    for (const [file, entry] of entries) expect(cache.get(file)).toBe(entry);
  });
});
