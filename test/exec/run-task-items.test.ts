import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli, runCliAsync } from "../helpers.js";

/** A fan-out whose items rendered targets run one pod (`run-task --item`) each, then a join. */
const FILES = {
  "dagwright.yaml": `graphs:
  g:
    tasks:
      keys:
      each: keys
      total: each
tasks:
  keys:
    file: tasks/keys.py
    cache_result: true
    iterable_item: k
  each:
    command: "echo $k > out/$k.txt"
    map_over: k
    outputs: ["out/\${k}.txt"]
  total:
    command: [sh, -c, "cat out/*.txt > total.txt"]
    outputs: [total.txt]
`,
  "tasks/keys.py":
    "import os\n\ndef keys():\n    os.makedirs('out', exist_ok=True)\n    return ['a', 'b', 'c']\n",
};

const counts = (stderr: string) =>
  /(\d+) would run, (\d+) fresh/.exec(stderr)?.slice(1).map(Number);

describe("run-task --item, one pod per item", () => {
  it("records the task as a whole as a full run does, so run and run-task agree on what is fresh", () => {
    const dir = makeProject(FILES);
    expect(runCli(["run-task", "--", "g", "keys"], dir).code).toBe(0);
    for (const key of ["a", "b", "c"])
      expect(runCli(["run-task", "--item", key, "--", "g", "each"], dir).code).toBe(0);
    expect(runCli(["run-task", "--", "g", "total"], dir).code).toBe(0);
    // Before the fix, `each` was recorded with the last pod's item only: a full run then saw
    // another fingerprint and reran `total`.
    const dry = runCli(["run", "--dry-run"], dir);
    expect(counts(dry.stderr), dry.stderr).toEqual([0, 3]);
    expect(readFileSync(path.join(dir, "total.txt"), "utf8")).toBe("a\nb\nc\n");
  });

  it("reruns the join when an item that ran in an earlier pod changes", () => {
    const dir = makeProject({
      ...FILES,
      "dagwright.yaml": FILES["dagwright.yaml"].replace(
        'command: "echo $k > out/$k.txt"',
        'command: "cat in/$k.txt > out/$k.txt"\n    inputs: ["in/${k}.txt"]',
      ),
      "in/a.txt": "a\n",
      "in/b.txt": "b\n",
      "in/c.txt": "c\n",
    });
    runCli(["run-task", "--", "g", "keys"], dir);
    for (const key of ["a", "b", "c"]) runCli(["run-task", "--item", key, "--", "g", "each"], dir);
    runCli(["run-task", "--", "g", "total"], dir);
    // Item a's input changes and the workflow runs again, one pod per item: the join must see
    // a's new output.
    writeFileSync(path.join(dir, "in", "a.txt"), "edited\n");
    for (const key of ["a", "b", "c"])
      expect(runCli(["run-task", "--item", key, "--", "g", "each"], dir).code).toBe(0);
    const r = runCli(["run-task", "--", "g", "total"], dir);
    expect(r.stderr).toMatch(/1 ran/);
    expect(readFileSync(path.join(dir, "total.txt"), "utf8")).toBe("edited\nb\nc\n");
  });

  it("records the task when pods of one fan-out overlap and the one that started first ends last", async () => {
    const dir = makeProject({
      ...FILES,
      "dagwright.yaml": FILES["dagwright.yaml"]
        .replace(
          'command: "echo $k > out/$k.txt"',
          'command: "if [ $k = a ]; then sleep 3; fi; echo $k > out/$k.txt"',
        )
        .replace("['a', 'b', 'c']", "['a', 'b']"),
      "tasks/keys.py":
        "import os\n\ndef keys():\n    os.makedirs('out', exist_ok=True)\n    return ['a', 'b']\n",
    });
    expect(runCli(["run-task", "--", "g", "keys"], dir).code).toBe(0);
    const slow = runCliAsync(["run-task", "--item", "a", "--", "g", "each"], dir);
    await new Promise((r) => setTimeout(r, 1000)); // pod a is running its item
    expect(runCli(["run-task", "--item", "b", "--", "g", "each"], dir).code).toBe(0);
    const a = await slow;
    expect(a.code, a.stderr).toBe(0);
    // Before the fix, pod a's task-level attempt (begun first) was superseded by pod b's, and
    // nothing recorded the task: the join was skipped as never succeeded.
    const total = runCli(["run-task", "--", "g", "total"], dir);
    expect(total.code, total.stderr).toBe(0);
    expect(readFileSync(path.join(dir, "total.txt"), "utf8")).toBe("a\nb\n");
  }, 30_000);
});
