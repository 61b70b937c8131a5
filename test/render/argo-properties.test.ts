import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Graph } from "../../src/graph/graph.js";
import { ENV_B64_PREFIX, renderArgo } from "../../src/render/argo.js";
import { isDnsLabel } from "../../src/render/names.js";
import { expandKubeVars, toYaml } from "../../src/render/quote.js";
import { SpecError } from "../../src/spec/errors.js";
import type { TaskSpec } from "../../src/spec/types.js";
import { graphOf, type ManifestYaml, specFor } from "./fixtures.js";
import { hostileStrings } from "./hostile-strings.js";
import { validateArgo } from "./validate-argo.js";

/** Pieces that break naive YAML, Argo or shell quoting, mixed with arbitrary text. */
const PIECES = [
  '"',
  "'",
  "\n",
  "{{",
  "}}",
  "{{=",
  "{{item}}",
  "$(",
  "$(HOME)",
  "$$",
  "${X}",
  ": ",
  " #",
  "#",
  "-",
  "- ",
  "*",
  "&a",
  "!tag",
  "%",
  "@",
  "`",
  "|",
  ">",
  "\\",
  "\t",
  "\r\n",
  "\u0085",
  "\u2028",
  "\ufeff",
  "\u007f",
  "\u0000",
  "é",
  "日本",
  "🚀",
  "yes",
  "No",
  "null",
  "0o7",
  "0755",
  "1e3",
  "12:30",
  " ",
  "~",
  "[",
  "{",
  ",",
  "?",
  "=",
];
const hostile = hostileStrings(PIECES);
const hostileName = hostile.filter((s) => s !== "" && !s.includes("{{") && !s.includes(","));

interface Case {
  graphName: string;
  names: string[];
  env: Record<string, string>[];
  args: string[];
  fanOut: { at: number; bundle: boolean; group: boolean } | null;
  group: { at: number; name: string } | null;
}

/** A chain of tasks with hostile names and env, maybe one fan-out and one group of two. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    graphName: hostileName,
    names: fc.uniqueArray(hostileName, { minLength: 1, maxLength: 5 }),
    envValues: fc.array(fc.array(hostile, { maxLength: 3 }), { minLength: 5, maxLength: 5 }),
    args: fc.array(hostile, { minLength: 5, maxLength: 5 }),
    fanOut: fc.option(fc.record({ at: fc.nat(), bundle: fc.boolean(), group: fc.boolean() })),
    group: fc.option(fc.record({ at: fc.nat(), name: hostileName })),
  })
  .map(({ graphName, names, envValues, args, fanOut, group }) => ({
    graphName,
    names,
    env: names.map((_, i) => Object.fromEntries(envValues[i]!.map((v, j) => [`VAR_${j}`, v]))),
    args,
    fanOut: fanOut === null ? null : { ...fanOut, at: fanOut.at % names.length },
    group:
      group === null || names.length < 2 || names.includes(group.name)
        ? null
        : { ...group, at: group.at % (names.length - 1) },
  }));

function graphFor(c: Case, withArgs: boolean): Graph {
  const adjacency = Object.fromEntries(
    c.names.map((n, i) => [n, i === 0 ? [] : [c.names[i - 1]!]]),
  );
  const tasks: Record<string, Partial<TaskSpec>> = {};
  for (const [i, n] of c.names.entries()) {
    const t: Partial<TaskSpec> = { env: c.env[i]! };
    if (withArgs) t.args = { value: c.args[i]! };
    if (c.fanOut?.at === i) {
      t.mapOver = ["item"];
      if (c.fanOut.bundle) t.bundleSize = 3;
      if (c.fanOut.group) t.groupSize = 2;
    }
    if (c.group !== null && (c.group.at === i || c.group.at + 1 === i)) t.group = c.group.name;
    tasks[n] = t;
  }
  return graphOf(c.graphName, adjacency, tasks);
}

function renderCase(c: Case, withArgs = true): string {
  const graph = graphFor(c, withArgs);
  return Object.values(
    renderArgo({ spec: specFor(graph), graph, config: {}, options: {} }).files,
  )[0]!;
}

const OUR_TAGS =
  /^\{\{(item|workflow\.name|inputs\.parameters\.[a-z0-9_-]+|tasks\.[a-z0-9-]+\.outputs\.result)\}\}/;

function decodeEnv(env: { name: string; value?: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (
      e.value === undefined ||
      (e.name.startsWith("DAGWRIGHT_") && !e.name.startsWith(ENV_B64_PREFIX))
    )
      continue;
    if (e.name.startsWith(ENV_B64_PREFIX))
      out[e.name.slice(ENV_B64_PREFIX.length)] = Buffer.from(e.value, "base64").toString("utf8");
    else out[e.name] = expandKubeVars(e.value);
  }
  return out;
}

describe("renderArgo properties (hostile names and values)", () => {
  it("keeps user strings as data: YAML 1.1 and 1.2 read the same values, env and names round-trip", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const text = renderCase(c);
        const m = parse(text) as ManifestYaml;
        expect(parse(text, { version: "1.1" })).toEqual(m);
        expect(renderCase(c)).toBe(text);
        // Task args never reach the manifest (run-task reads them from the spec in the image).
        expect(renderCase(c, false)).toBe(text);

        // Every {{ is one of ours.
        for (let i = text.indexOf("{{"); i >= 0; i = text.indexOf("{{", i + 2))
          expect(text.slice(i)).toMatch(OUR_TAGS);

        const templates = m.spec.templates;
        const templateNames = templates.map((t) => t.name);
        expect(new Set(templateNames).size).toBe(templateNames.length);
        expect(templateNames.every((n) => n === "main" || isDnsLabel(n))).toBe(true);
        const dagNames = templates[0]!.dag!.tasks.map((t) => t.name);
        expect(new Set(dagNames).size).toBe(dagNames.length);
        expect(dagNames.every(isDnsLabel)).toBe(true);
        expect(m.metadata.generateName).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?-$/);

        const seen = new Set<string>();
        for (const t of templates) {
          if (t.container === undefined) continue;
          const args = t.container.args;
          const positional = args.slice(args.indexOf("--") + 1).map(expandKubeVars);
          expect(positional[0]).toBe(c.graphName);
          if (args[0] === "run") {
            const only = expandKubeVars(args[1]!).slice("--only=".length).split(",");
            expect(only.every((n) => c.names.includes(n))).toBe(true);
            for (const n of only) seen.add(n);
            // A group's container has the members' env values they agree on.
            for (const [k, v] of Object.entries(decodeEnv(t.container.env)))
              expect(only.some((n) => c.env[c.names.indexOf(n)]![k] === v)).toBe(true);
            continue;
          }
          const name = positional[1]!;
          seen.add(name);
          if (args.includes("--list-items")) continue;
          expect(decodeEnv(t.container.env)).toEqual(c.env[c.names.indexOf(name)]);
        }
        expect([...seen].sort()).toEqual([...c.names].sort());
      }),
      { numRuns: 150 },
    );
  });

  it("renders manifests the Argo validator accepts (a sample of 20)", () => {
    const cases = fc.sample(caseArb, { numRuns: 20, seed: 20240611 });
    const files = Object.fromEntries(cases.map((c, i) => [`case-${i}.yaml`, renderCase(c)]));
    expect(validateArgo(files)).toEqual([]);
  });

  it("rejects graph and task names containing {{, naming them", () => {
    fc.assert(
      fc.property(hostile, hostile, (before, after) => {
        const name = `${before}{{${after}`;
        const graph = graphOf("g", { [name]: [] });
        try {
          renderArgo({ spec: specFor(graph), graph, config: {}, options: {} });
          expect.unreachable();
        } catch (err) {
          expect(err).toBeInstanceOf(SpecError);
          const messages = (err as SpecError).diagnostics.map((d) => d.message);
          expect(messages).toContain(
            `task name ${JSON.stringify(name)} contains "{{", which Argo would evaluate (it has no escape for it)`,
          );
        }
      }),
      { numRuns: 50 },
    );
  });

  it("serializes any JSON value so that YAML 1.1 and 1.2 read it back unchanged", () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        hostile,
        fc.integer(),
        fc.boolean(),
        fc.array(tie("node"), { maxLength: 4 }),
        fc.dictionary(hostile, tie("node"), { maxKeys: 4 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const text = toYaml(v);
        expect(parse(text)).toEqual(v);
        expect(parse(text, { version: "1.1" })).toEqual(v);
        expect(text).not.toMatch(/[\u007f-\u009f\u2028\u2029\ufeff]/);
      }),
      { numRuns: 300 },
    );
  });
});
