import path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeLoaded, encodeLoaded, type Loaded } from "../../src/cli/spec-cache.js";
import { checkAllGraphs } from "../../src/graph/build-graph.js";
import { loadSpec } from "../../src/spec/load-spec.js";
import { makeProject, REPO } from "../helpers.js";

function load(cwd: string): Loaded {
  const spec = loadSpec({ cwd });
  const { graphs, diagnostics } = checkAllGraphs(spec);
  expect(diagnostics).toEqual([]);
  return { spec, graphs };
}

/** What the cache file gives back, through JSON like the file. */
const roundTrip = (loaded: Loaded) =>
  decodeLoaded(JSON.parse(JSON.stringify(encodeLoaded(loaded))));

/** `loaded` as JSON keeps it, without the graphs' entries (the cache does not keep them). */
function expected(loaded: Loaded) {
  const copy = JSON.parse(JSON.stringify(loaded)) as Loaded;
  for (const g of Object.values(copy.spec.graphs)) delete (g as Partial<typeof g>).entries;
  return copy;
}

const VARIED = `graphs:
  base:
    tasks:
      a: []
      b: {deps: a, args: {n: 2}}
  more:
    extends: [{graph: base, args: {b: {n: 3}}}]
    tasks:
      c: [a, b]
tasks:
  a: {file: a.py, outputs: [out/a.csv], inputs: ["data/*.csv"], cache_result: true, tags: [x]}
  b: {command: ["echo", "hi"], retries: 2, timeout: 5, env: {K: v}, compute: {cpu: 2}}
  c: {command: "echo c > c.txt", cache: false, args: {k: {ref: a}}, outputs: [c.txt, {path: c.db, in_place: true}]}
`;

describe("the spec cache's form", () => {
  it.each([
    ["the quickstart", path.join(REPO, "examples", "quickstart")],
    ["the Argo example (groups, secrets, machine types)", path.join(REPO, "examples", "argo")],
    [
      "a spec with args, extends, refs, defaults overridden",
      makeProject({ "dagwright.yaml": VARIED, "a.py": "def a():\n    return 1\n" }),
    ],
  ])("gives back %s exactly", (_, dir) => {
    const loaded = load(dir);
    const back = roundTrip(loaded);
    expect(back).toEqual(expected(loaded));
    // A graph task shares its spec object with spec.tasks, as a fresh load has it.
    for (const g of Object.values(back.graphs))
      for (const [name, t] of Object.entries(g.tasks))
        if (loaded.graphs[g.name]!.tasks[name]!.spec === loaded.spec.tasks[name])
          expect(t.spec).toBe(back.spec.tasks[name]);
  });

  it("is much smaller than the spec itself on a large graph, and never hands out entries", () => {
    const lines = ["graphs:", "  g:", "    tasks:"];
    for (let i = 0; i < 200; i++) lines.push(`      t${i}: ${i === 0 ? "[]" : `t${i - 1}`}`);
    lines.push("tasks:");
    for (let i = 0; i < 200; i++) lines.push(`  t${i}: {file: "noop.ts:noop"}`);
    const loaded = load(
      makeProject({
        "dagwright.yaml": `${lines.join("\n")}\n`,
        "noop.ts": "export function noop() {}\n",
      }),
    );
    const full = JSON.stringify({ spec: loaded.spec, graphs: loaded.graphs }).length;
    expect(JSON.stringify(encodeLoaded(loaded)).length).toBeLessThan(full * 0.5);
    const back = roundTrip(loaded);
    expect(back).toEqual(expected(loaded));
    expect(() => back.spec.graphs.g!.entries).toThrow(/does not keep them/);
  });
});
