import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { renderPrefect } from "../../src/render/prefect.js";
import { SpecError } from "../../src/spec/errors.js";
import { makeProject, REPO, runCli } from "../helpers.js";
import { graphOf, specFor } from "./fixtures.js";
import { binDir, runFlow } from "./prefect-harness.js";

const SPEC = `settings: { name: sim }
graphs:
  sim:
    tasks:
      states:
      per_state: states
      clean: per_state
      summarize: clean
      report: summarize
tasks:
  states:
    file: tasks/states.py
    cache_result: true
    iterable_item: state
  per_state:
    command: "echo \\"$state $GREETING\\" > out/$state.txt; echo $state >> calls.txt"
    map_over: state
    bundle_size: 2
    group_size: 2
    outputs: ["out/\${state}.txt"]
    env:
      GREETING: "hello {{ run_id }} $(HOME)"
  clean:
    command: [sh, -c, "cat out/*.txt | sort > out/all.txt; echo clean >> calls.txt"]
    group: prep
    outputs: [out/all.txt]
  summarize:
    command: [sh, -c, "wc -l < out/all.txt > out/count.txt; echo summarize >> calls.txt"]
    group: prep
    outputs: [out/count.txt]
  report:
    command: [sh, -c, "cat out/count.txt out/all.txt > out/report.txt; echo report >> calls.txt"]
    retries: 1
    timeout: 1m
    tags: [reports]
    outputs: [out/report.txt]
`;
const FILES = {
  "dagwright.yaml": SPEC,
  "tasks/states.py":
    "import os\n\ndef states():\n    os.makedirs('out', exist_ok=True)\n    return ['NC', 'SC', 'VA', 'GA', 'FL']\n",
};

describe("render prefect", () => {
  it("runs the flow's tasks through dagwright run-task: same outputs as dagwright run, and a second run reruns nothing", () => {
    const flowDir = makeProject(FILES);
    const r = runCli(["render", "prefect", "sim", "--out", "flows"], flowDir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const flow = path.join(flowDir, "flows", "sim_flow.py");
    const golden = path.join(REPO, "test", "render", "golden", "sim.prefect.py");
    if (process.env.UPDATE_GOLDEN === "1") writeFileSync(golden, readFileSync(flow, "utf8"));
    expect(readFileSync(flow, "utf8"), "run with UPDATE_GOLDEN=1 after review").toBe(
      readFileSync(golden, "utf8"),
    );
    const bin = binDir();
    const first = runFlow(flow, flowDir, bin);
    expect(first.error).toBeNull();
    // Runs in submission order; a fan-out's items are submitted in key order, each after the listing.
    expect(first.runs.map((x) => [x.task, x.args, x.ran])).toEqual([
      ["states", [], true],
      ["per_state-items", [], true],
      ["per_state", ["0"], true],
      ["per_state", ["1"], true],
      ["per_state", ["2"], true],
      ["prep", [], true],
      ["report", [], true],
    ]);
    // Edges: each run waited for its upstream runs (the mapped runs for the group).
    expect(first.runs.map((x) => x.waited)).toEqual([[], [0], [1], [1], [1], [2, 3, 4], [5]]);

    const localDir = makeProject(FILES);
    expect(runCli(["run", "sim"], localDir).code).toBe(0);
    for (const out of ["NC", "SC", "VA", "GA", "FL", "all", "count", "report"])
      expect(readFileSync(path.join(flowDir, "out", `${out}.txt`), "utf8")).toBe(
        readFileSync(path.join(localDir, "out", `${out}.txt`), "utf8"),
      );
    expect(readFileSync(path.join(flowDir, "out", "NC.txt"), "utf8")).toBe(
      `NC hello {{ run_id }} $(HOME)\n`,
    );
    const calls = readFileSync(path.join(flowDir, "calls.txt"), "utf8");
    expect(runFlow(flow, flowDir, bin).error).toBeNull();
    expect(readFileSync(path.join(flowDir, "calls.txt"), "utf8")).toBe(calls);
  });

  it("raises with the log tail when a task fails, and runs nothing downstream", () => {
    const dir = makeProject({
      "dagwright.yaml":
        "graphs: { g: { tasks: { a: , b: a } } }\ntasks:\n  a: { command: [sh, -c, 'echo boom >&2; exit 3'] }\n  b: { command: [echo, b] }\n",
    });
    expect(runCli(["render", "prefect", "--out", "."], dir).code).toBe(0);
    const r = runFlow(path.join(dir, "g_flow.py"), dir, binDir());
    expect(r.code).toBe(1);
    expect(r.error).toMatch(/^dagwright run-task -- g a exited with \d+:\n[\s\S]*boom/);
    expect(r.runs.filter((x) => x.ran).map((x) => x.task)).toEqual(["a"]);
  });

  it("refuses Kubernetes-only features, naming the task, the feature and the target", () => {
    const g = graphOf("g", { a: [] }, { a: { secrets: [{ env: "T", name: "s", key: "k" }] } });
    expect(() => renderPrefect({ spec: specFor(g), graph: g, config: {}, options: {} })).toThrow(
      SpecError,
    );
    try {
      renderPrefect({ spec: specFor(g), graph: g, config: {}, options: {} });
    } catch (err) {
      expect((err as SpecError).diagnostics.map((d) => d.message)).toEqual([
        'task "a" uses secrets (Kubernetes Secret references), which render prefect cannot express',
      ]);
    }
  });

  it("passes hostile task and graph names to dagwright exactly, as process arguments", () => {
    const piece = fc.constantFrom(
      '"',
      "'''",
      '"""',
      "\\",
      "\n",
      "\r",
      "\u2028",
      "{{ x }}",
      "${HOME}",
      "$(id)",
      ";",
      " ",
      "é",
      "\nimport os\n",
    );
    const name = fc
      .array(fc.oneof(piece, fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 5 })
      .map((p) => p.join(""))
      .filter((s) => s !== "" && !s.includes(",") && !s.includes("\u0000"));
    // A fake dagwright that records its argv and lists two items.
    const log = path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-argv-")), "argv.jsonl");
    const bin = binDir(
      `import json, sys\nopen(${JSON.stringify(log)}, "a").write(json.dumps(sys.argv[1:]) + "\\n")\nif "--list-items" in sys.argv: print('["a", "b"]')\n`,
    );
    fc.assert(
      fc.property(
        name,
        fc.uniqueArray(name, { minLength: 2, maxLength: 3 }),
        (graphName, names) => {
          writeFileSync(log, "");
          const graph = graphOf(
            graphName,
            Object.fromEntries(names.map((n, i) => [n, i > 0 ? [names[i - 1]!] : []])),
            { [names[1]!]: { mapOver: ["x"] } },
          );
          const text = Object.values(
            renderPrefect({ spec: specFor(graph), graph, config: {}, options: {} }).files,
          )[0]!;
          const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-flow-"));
          writeFileSync(path.join(dir, "flow.py"), text);
          const r = runFlow(path.join(dir, "flow.py"), dir, bin);
          expect(r.error).toBeNull();
          const argv = readFileSync(log, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as string[]);
          // The two items run at once, in either order.
          const items = argv.splice(2, 2).sort((x, y) => (x[1]! < y[1]! ? -1 : 1));
          expect(argv).toEqual([
            ["run-task", "--", graphName, names[0]],
            ["run-task", "--list-items", "--b64", "--", graphName, names[1]],
            ...names.slice(2).map((n) => ["run-task", "--", graphName, n]),
          ]);
          expect(items).toEqual([
            ["run-task", "--item-b64=a", "--", graphName, names[1]],
            ["run-task", "--item-b64=b", "--", graphName, names[1]],
          ]);
        },
      ),
      { numRuns: 15 },
    );
  });
});
