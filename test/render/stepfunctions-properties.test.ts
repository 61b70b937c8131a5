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
      { numRuns: 60 },
    );
  });
});
