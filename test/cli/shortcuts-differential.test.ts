import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonLines, makeProject, runCli, runCliAsync } from "../helpers.js";

// The differential test that keeps the shortcuts honest (issue 11): after every edit of a random
// sequence, `run --dry-run` answered with the spec cache and the no-change memo available must
// decide exactly what a full load and plan decide (both shortcuts off), task by task, with the
// same reasons. Between edits the project really runs, so state moves on and memos are written.
//
// CI runs a few sequences with a fixed seed. A nightly-sized run (docs/running.md):
//   DAGWRIGHT_DIFF_RUNS=200 DAGWRIGHT_DIFF_SEED=$RANDOM npx vitest run test/cli/shortcuts-differential.test.ts

const RUNS = Number(process.env.DAGWRIGHT_DIFF_RUNS ?? 3);
const SEED = Number(process.env.DAGWRIGHT_DIFF_SEED ?? 11);

const spec = (mode: string, region = "eu", other = 1) => `config:
  region: ${region}
  other: ${other}
graphs:
  g:
    tasks:
      a:
      b: a
      c: a
      d: [b, c]
      lst:
      each: lst
      agg: each
tasks:
  lst: {file: tasks/lst.py, cache_result: true, iterable_item: item, inputs: [data/items.txt]}
  each: {file: tasks/each.py, map_over: item, outputs: ["out/items/\${item}.txt"]}
  agg: {command: ["sh", "-c", "ls out/items > out/agg.txt"], outputs: [out/agg.txt]}
  a:
    command: ["sh", "tasks/a.sh"]
    inputs: ["data/*.txt"]
    outputs: [out/a.txt]
  b:
    file: b.py
    outputs: [out/b.txt]
  c:
    command: ["sh", "tasks/c.sh"]
    env: {MODE: "${mode}"}
    outputs: [out/c.txt]
  d:
    command: ["sh", "-c", "cat out/b.txt out/c.txt > out/d.txt"]
    outputs: [out/d.txt]
`;

const pyTask = (tag: string, params = "region") =>
  `import helper\n\ndef b(${params}):\n    with open("out/b.txt", "w") as f:\n        f.write(helper.shout(open("out/a.txt").read()) + ${JSON.stringify(tag)})\n`;

const PROJECT: Record<string, string> = {
  "dagwright.yaml": spec("x"),
  "pyproject.toml": '[tool.kptn]\npy_tasks_dir = "py_tasks"\n',
  ".git/HEAD": "ref: refs/heads/main\n",
  "data/1.txt": "one\n",
  "tasks/lib.sh": "up() { tr a-z A-Z; }\n",
  "tasks/a.sh": "set -eu\n. tasks/lib.sh\nmkdir -p out\ncat data/*.txt | up > out/a.txt\n",
  "tasks/c.sh": 'set -eu\nmkdir -p out\necho "c $MODE" > out/c.txt\n',
  "py_tasks/b.py": pyTask("py_tasks"),
  "py_tasks/helper.py": "def shout(s):\n    return s.upper()\n",
  "py_alt/b.py": pyTask("py_alt"),
  "py_alt/helper.py": "def shout(s):\n    return s.lower()\n",
  "data/items.txt": "x\ny\n",
  "tasks/lst.py":
    "def lst():\n    return [l for l in open('data/items.txt').read().split() if l]\n",
  "tasks/each.py":
    "import os\n\ndef each(item):\n    os.makedirs('out/items', exist_ok=True)\n    open(f'out/items/{item}.txt', 'w').write(item)\n",
};

/** One edit of the project; `v` picks a variant (0 often means "the same content again"). */
type Edit = { kind: (typeof KINDS)[number]; v: number };

const KINDS = [
  "task code",
  "sourced helper",
  "imported helper",
  "input edited",
  "input added",
  "output deleted",
  "output edited",
  "output touched",
  "spec env value",
  "pyproject search path",
  "file earlier on the search path",
  "task fails or recovers",
  "task function renamed",
  "another runner",
  "branch switch",
  "unrelated env var",
  "nothing",
  "config key a task receives",
  "config key no function receives",
  "function parameters",
  "fan-out items",
] as const;

function put(dir: string, rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
}

function apply(dir: string, { kind, v }: Edit): Record<string, string> {
  const variant = (texts: string[]) => texts[v % texts.length]!;
  switch (kind) {
    case "task code":
      put(dir, "tasks/a.sh", PROJECT["tasks/a.sh"]! + variant(["", "# tweak\n", "true\n"]));
      break;
    case "sourced helper":
      put(dir, "tasks/lib.sh", variant([PROJECT["tasks/lib.sh"]!, "up() { tr a-z A-Z | cat; }\n"]));
      break;
    case "imported helper":
      put(
        dir,
        "py_tasks/helper.py",
        variant([
          "def shout(s):\n    return s.upper()\n",
          "def shout(s):\n    return s.upper() + '!'\n",
        ]),
      );
      break;
    case "input edited":
      put(dir, "data/1.txt", variant(["one\n", "uno\n", "eins\n"]));
      break;
    case "input added":
      put(dir, `data/${2 + (v % 3)}.txt`, "more\n");
      break;
    case "output deleted":
      rmSync(path.join(dir, variant(["out/a.txt", "out/b.txt", "out/d.txt"])), { force: true });
      break;
    case "output edited":
      put(dir, variant(["out/c.txt", "out/b.txt"]), variant(["edited\n", "c x\n"]));
      break;
    case "output touched": {
      const file = path.join(dir, "out/a.txt");
      try {
        utimesSync(file, new Date(), new Date(Date.now() + 1000 * (v + 1)));
      } catch {
        // not there (deleted by an earlier edit): nothing to touch
      }
      break;
    }
    case "spec env value":
      put(dir, "dagwright.yaml", spec(variant(["x", "y", "x"])));
      break;
    case "pyproject search path":
      put(
        dir,
        "pyproject.toml",
        `[tool.kptn]\npy_tasks_dir = "${variant(["py_tasks", "py_alt"])}"\n`,
      );
      break;
    case "file earlier on the search path":
      if (v % 2 === 0) put(dir, "b.py", pyTask("root"));
      else rmSync(path.join(dir, "b.py"), { force: true });
      break;
    case "task fails or recovers":
      put(dir, "tasks/c.sh", variant([PROJECT["tasks/c.sh"]!, "exit 3\n"]));
      break;
    case "task function renamed":
      put(
        dir,
        "py_tasks/b.py",
        variant([pyTask("py_tasks"), pyTask("py_tasks").replace("def b(", "def bb(")]),
      );
      break;
    case "another runner":
      runCli(["run", "--force", "--only", variant(["a", "c"])], dir);
      break;
    case "branch switch":
      put(dir, ".git/HEAD", `ref: refs/heads/${variant(["main", "feature"])}\n`);
      break;
    case "unrelated env var":
      return { SOME_TERMINAL_SESSION: String(v) };
    case "nothing":
      break;
    case "config key a task receives":
      put(dir, "dagwright.yaml", spec("x", variant(["eu", "us", "eu"])));
      break;
    case "config key no function receives":
      put(dir, "dagwright.yaml", spec("x", "eu", v % 3));
      break;
    case "function parameters":
      put(dir, "py_tasks/b.py", pyTask("py_tasks", variant(["region", "", "region, other"])));
      break;
    case "fan-out items":
      put(dir, "data/items.txt", variant(["x\ny\n", "x\n", "x\ny\nz\n"]));
      break;
  }
  return {};
}

interface Event {
  type: string;
  task?: string;
  reasons?: string[];
  nothingChanged?: boolean;
  toRun?: number;
  total?: number;
}

const FULL = { DAGWRIGHT_NO_CHANGE_MEMO: "0", DAGWRIGHT_SPEC_CACHE: "0" };

/**
 * Each task's decision in a dry run: "fresh", or "run: <reasons>". Runs the CLI without blocking
 * this worker: the property takes over a minute on a loaded machine, and a worker blocked that
 * long fails the whole run with Vitest's "Timeout calling onTaskUpdate" though every test passed.
 */
async function decide(dir: string, env: Record<string, string>) {
  const r = await runCliAsync(["run", "--dry-run", "--json"], dir, env);
  const events = jsonLines<Event>(r.stdout);
  const decisions: Record<string, string> = {};
  for (const e of events) {
    if (e.type === "task-fresh") decisions[e.task!] = "fresh";
    if (e.type === "task-would-run") decisions[e.task!] = `run: ${e.reasons!.join("; ")}`;
    if (e.type === "task-skipped") decisions[e.task!] = "skipped";
    if (e.type === "task-items") decisions[e.task!] = `items: ${e.toRun} of ${e.total} to run`;
  }
  return {
    code: r.code,
    stderr: r.stderr,
    decisions,
    fromMemo: events.at(-1)?.nothingChanged === true,
  };
}

describe("the spec cache and the no-change memo decide what a full plan decides", () => {
  it("for every task after every edit of random edit sequences", async () => {
    let memoAnswers = 0;
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ kind: fc.constantFrom(...KINDS), v: fc.nat({ max: 5 }) }), {
          minLength: 3,
          maxLength: 8,
        }),
        async (generated) => {
          // Ends with a step that changes nothing planning reads: the memo's own case.
          const edits: Edit[] = [...generated, { kind: "unrelated env var", v: 9 }];
          const dir = makeProject(PROJECT);
          const first = await runCliAsync(["run"], dir);
          expect(first.stderr).toMatch(/done: 7 ran, 0 fresh/);
          await decide(dir, {}); // leaves a memo when everything is fresh
          for (const edit of edits) {
            const env = apply(dir, edit);
            const shortcut = await decide(dir, env);
            const full = await decide(dir, { ...env, ...FULL });
            expect({ edit, ...shortcut, fromMemo: undefined }).toEqual({
              edit,
              ...full,
              fromMemo: undefined,
            });
            steps++;
            if (shortcut.fromMemo) memoAnswers++;
            await runCliAsync(["run"], dir, env);
            // Planned once more after the run: a run that ran something leaves no memo.
            const settled = await decide(dir, env);
            expect(settled.decisions).toEqual((await decide(dir, { ...env, ...FULL })).decisions);
          }
          rmSync(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    // Not vacuous: the memo answered some of the steps it was compared on.
    expect(steps).toBeGreaterThan(0);
    expect(memoAnswers).toBeGreaterThan(0);
  }, 600_000);
});
