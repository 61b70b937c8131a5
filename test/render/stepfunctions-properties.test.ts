import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isSafeStateName } from "../../src/render/asl-names.js";
import { renderStepFunctions } from "../../src/render/stepfunctions.js";
import { SpecError } from "../../src/spec/errors.js";
import { type Deps, dag, dagOfShape, spTree } from "./dag-arbitraries.js";
import { graphOf, specFor } from "./fixtures.js";
import { validateAsl } from "./validate-asl.js";

/** Pieces that Step Functions, JSONPath, intrinsic functions, JSONata or a shell would interpret. */
const PIECES = [
  ".$",
  "$",
  "$$",
  "$.x",
  "$$.Execution.Input",
  "States.Format('{}', $.x)",
  "{% $x %}",
  "{% ",
  "{}",
  "'",
  '"',
  "\\",
  "\n",
  "\r",
  "\u2028",
  "\t",
  "\u0001",
  "$(id)",
  "`",
  ";",
  " ",
  "é",
  "🙂",
  "a".repeat(90),
];
const hostile = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((parts) => parts.join(""));

/** Values of `.$` keys: only paths and intrinsics dagwright writes, with generated names. */
const PATH_VALUE =
  /^(\$\$\.Execution\.(Input(\.[a-z_]+)?|Name)|\$\$\.Map\.Item\.Value|\$(\.[A-Za-z_]+)+|States\.JsonToString\(\$(\.[A-Za-z]+)+\)|States\.StringToJson\(\$\.Body\)|States\.ArrayPartition\(States\.StringToJson\(\$\.Body\), \d+\)|States\.UUID\(\)|States\.Format\('dagwright-items\/\{\}\/[A-Za-z0-9_.-]+', \$\.dagwright\.run\))$/;

function walk(value: unknown, visit: (key: string, v: unknown) => void): void {
  if (Array.isArray(value)) for (const v of value) walk(v, visit);
  else if (typeof value === "object" && value !== null)
    for (const [k, v] of Object.entries(value)) {
      visit(k, v);
      walk(v, visit);
    }
}

describe("render stepfunctions: hostile strings stay data", () => {
  it("never puts user text under a .$ key, keeps names safe, and carries env values and names intact", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(hostile, { minLength: 1, maxLength: 3 }),
        hostile,
        hostile,
        async (names, graphName, value) => {
          const adjacency = Object.fromEntries(
            names.map((n, i) => [n, i > 0 ? [names[i - 1]!] : []]),
          );
          const graph = graphOf(
            graphName,
            adjacency,
            Object.fromEntries(names.map((n) => [n, { env: { USER_VALUE: value } }])),
          );
          let files: Record<string, string>;
          try {
            files = renderStepFunctions({
              spec: specFor(graph),
              graph,
              config: {},
              options: {},
            }).files;
          } catch (e) {
            // Only names a state machine cannot carry as a process argument are refused.
            expect(e).toBeInstanceOf(SpecError);
            for (const d of (e as SpecError).diagnostics)
              expect(d.message).toMatch(
                /cannot be (a literal string of a state machine|a process argument)/,
              );
            return;
          }
          const [asl] = Object.keys(files).filter((f) => f.endsWith(".asl.json"));
          expect(asl).not.toContain("/");
          const machine = JSON.parse(files[asl!]!);
          const stateNames: string[] = [];
          const commands: string[][] = [];
          const envs: { Name: string; Value?: string }[][] = [];
          walk(machine, (k, v) => {
            if (k.endsWith(".$")) expect(v, k).toMatch(PATH_VALUE);
            if (k === "States") stateNames.push(...Object.keys(v as object));
            if (k === "Command") commands.push(v as string[]);
            if (k === "Environment") envs.push(v as { Name: string; Value?: string }[]);
          });
          expect(new Set(stateNames).size).toBe(stateNames.length);
          for (const s of stateNames) expect(isSafeStateName(s), s).toBe(true);
          expect(commands.map((c) => c[c.length - 1]).sort()).toEqual([...names].sort());
          for (const env of envs) {
            const plain = env.find((e) => e.Name === "USER_VALUE");
            const b64 = env.find((e) => e.Name === "DAGWRIGHT_ENV_B64_USER_VALUE");
            const got = plain?.Value ?? Buffer.from(b64!.Value!, "base64").toString("utf8");
            expect(got).toBe(value);
          }
          expect(await validateAsl(machine)).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** Which Task states finish before each Task state starts, read from the machine's flow. */
function predecessors(machine: AslMachine): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const flow = (m: AslMachine, before: Set<string>): Set<string> => {
    let done = new Set(before);
    let name: string | undefined = m.StartAt;
    while (name !== undefined) {
      const state: AslState = m.States[name]!;
      if (state.Type === "Task") {
        out.set(name, new Set(done));
        done.add(name);
      } else if (state.Type === "Parallel") {
        const ends = state.Branches!.map((b) => flow(b, done));
        done = new Set(ends.flatMap((e) => [...e]));
      }
      name = state.End ? undefined : state.Next;
    }
    return done;
  };
  flow(machine, new Set());
  return out;
}
interface AslState {
  Type: string;
  Next?: string;
  End?: boolean;
  Branches?: AslMachine[];
}
interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
}

/** Each node's ancestors through `edges` (node → what it waits for), to a fixed point. */
function closure(edges: number[][]): Set<number>[] {
  const anc = edges.map((ds) => new Set(ds));
  for (let changed = true; changed; ) {
    changed = false;
    for (const a of anc)
      for (const d of [...a])
        for (const x of anc[d]!)
          if (!a.has(x)) {
            a.add(x);
            changed = true;
          }
  }
  return anc;
}

/**
 * The waits level-by-level ordering (kptn's) adds, recounted: a node of level L (1 + its
 * deepest dependency's) waits for every node of a lower level, not only its ancestors.
 */
function levelOrderingWaits(deps: Deps): number {
  const level: number[] = [];
  for (const ds of deps) level.push(Math.max(-1, ...ds.map((d) => level[d]!)) + 1);
  const anc = closure(deps);
  return deps.reduce((n, _, i) => n + level.filter((l) => l < level[i]!).length - anc[i]!.size, 0);
}

/** Renders `deps` (node i is task `t<i>`) and reads back which tasks each task waits for. */
function renderFlow(deps: Deps) {
  const name = (i: number) => `t${i}`;
  const graph = graphOf("g", Object.fromEntries(deps.map((ds, i) => [name(i), ds.map(name)])));
  const result = renderStepFunctions({ spec: specFor(graph), graph, config: {}, options: {} });
  const preds = predecessors(JSON.parse(result.files["g.asl.json"]!));
  const index = (task: string) => Number(task.slice(1));
  // What the machine makes each task wait for, as node numbers.
  const waits = deps.map((_, i) => new Set([...preds.get(name(i))!].map(index)));
  const added = (result.report!.addedWaits as { task: string; waitsFor: string }[]).map(
    (w) => [index(w.task), index(w.waitsFor)] as const,
  );
  return { result, preds, waits, added };
}

describe("render stepfunctions: the machine's flow", () => {
  it("starts every task after its dependencies; the waits beyond them, recounted from the ASL, are the reported ones and at most level ordering's", () => {
    fc.assert(
      fc.property(dag, (deps) => {
        const { result, preds, waits, added } = renderFlow(deps);
        expect(preds.size).toBe(deps.length);
        const anc = closure(deps);
        let extra = 0;
        for (const [i, a] of anc.entries()) {
          for (const d of a) expect(waits[i]!.has(d), `t${i} after t${d}`).toBe(true);
          extra += waits[i]!.size - a.size;
        }
        // The reported added waits, with the dependencies, explain every wait of the machine.
        const withAdded = closure(
          deps.map((ds, i) => [...ds, ...added.filter(([t]) => t === i).map(([, w]) => w)]),
        );
        for (const [i, w] of withAdded.entries()) expect(waits[i], `t${i}`).toEqual(w);
        for (const [t, w] of added) expect(anc[t]!.has(w), `t${t} depends on t${w}`).toBe(false);
        expect(extra).toBe(result.report!.falseWaits);
        expect(extra === 0).toBe(added.length === 0);
        const byLevel = levelOrderingWaits(deps);
        expect(result.report!.levelOrderingFalseWaits).toBe(byLevel);
        expect(extra).toBeLessThanOrEqual(byLevel);
        // The warnings name the first 20 added waits, in --json's order, and count the rest.
        const named = result.warnings.filter((w) => w.includes("also waits for"));
        expect(named).toHaveLength(Math.min(20, added.length));
        for (const [k, w] of named.entries())
          expect(w).toContain(`t${added[k]![0]} also waits for t${added[k]![1]}:`);
        expect(result.warnings.length - named.length).toBe(added.length > 20 ? 1 : 0);
      }),
      { numRuns: 200 },
    );
  });

  it("adds no wait to a series-parallel graph: every task waits for exactly its ancestors", () => {
    fc.assert(
      fc.property(spTree, (shape) => {
        const deps = dagOfShape(shape);
        const { result, waits } = renderFlow(deps);
        const anc = closure(deps);
        for (const [i, a] of anc.entries()) expect(waits[i], `t${i}`).toEqual(a);
        expect(result.warnings).toEqual([]);
        expect(result.report).toMatchObject({ addedWaits: [], falseWaits: 0 });
      }),
      { numRuns: 150 },
    );
  });
});
