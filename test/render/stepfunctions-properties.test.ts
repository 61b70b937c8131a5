import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isSafeStateName } from "../../src/render/asl-names.js";
import { renderStepFunctions } from "../../src/render/stepfunctions.js";
import { SpecError } from "../../src/spec/errors.js";
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

describe("render stepfunctions: the machine's flow", () => {
  const dag = fc.integer({ min: 1, max: 10 }).chain((n) =>
    fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.subarray(
          Array.from({ length: i }, (_, j) => j),
          { maxLength: Math.min(3, i) },
        ),
      ),
    ),
  );

  it("starts every task after all its dependencies, and waits beyond them exactly as reported", () => {
    fc.assert(
      fc.property(dag, (deps) => {
        const name = (i: number) => `t${i}`;
        const graph = graphOf(
          "g",
          Object.fromEntries(deps.map((ds, i) => [name(i), ds.map(name)])),
        );
        const result = renderStepFunctions({
          spec: specFor(graph),
          graph,
          config: {},
          options: {},
        });
        const preds = predecessors(JSON.parse(result.files["g.asl.json"]!));
        expect([...preds.keys()].sort()).toEqual(deps.map((_, i) => name(i)).sort());
        const ancestors = deps.map(() => new Set<string>());
        for (const [i, ds] of deps.entries())
          for (const d of ds) {
            ancestors[i]!.add(name(d));
            for (const a of ancestors[d]!) ancestors[i]!.add(a);
          }
        let extra = 0;
        for (const [i, anc] of ancestors.entries()) {
          const p = preds.get(name(i))!;
          for (const a of anc) expect(p.has(a), `${name(i)} after ${a}`).toBe(true);
          extra += p.size - anc.size;
        }
        expect(extra).toBe(result.report!.falseWaits);
        expect((result.report!.addedWaits as unknown[]).length === 0).toBe(extra === 0);
      }),
      { numRuns: 200 },
    );
  });
});
