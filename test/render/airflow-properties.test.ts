import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { renderAirflow } from "../../src/render/airflow.js";
import { jinjaLiteral, shellQuote } from "../../src/render/airflow-quote.js";
import { pyStr } from "../../src/render/python-literal.js";
import { isWellFormedUnicode } from "../../src/render/quote.js";
import { loadDag, NO_JINJA } from "./airflow-fixtures.js";
import { graphOf, specFor } from "./fixtures.js";
import { hostileStrings } from "./hostile-strings.js";

/** Pieces that end a Python literal, start a statement, or mean something to Jinja or a shell. */
const PIECES = [
  '"',
  "'",
  '"""',
  "'''",
  "\\",
  '\\"',
  "\n",
  "\r",
  "\r\n",
  "\u0000",
  "\u2028",
  "\u2029",
  "\u0085",
  "{{ 7*7 }}",
  "{%",
  "{% raw %}",
  "{% endraw %}",
  "{#",
  "#}",
  "}}",
  "{",
  "${HOME}",
  "$(id)",
  "`id`",
  ";",
  "\nimport os\n",
  ")\nprint(1)\n#",
  ".sh",
  ".json",
  "é",
  "🚀",
  " ",
];
const hostile = hostileStrings(PIECES).filter(isWellFormedUnicode);

/** Evaluates Python source printing JSON, returns the parsed output. */
function python(source: string): unknown {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-py-"));
  const file = path.join(dir, "x.py");
  writeFileSync(file, source);
  const r = spawnSync("python3", [file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

describe("Python literals", () => {
  it("read back as exactly the string, as one expression, for any string", () => {
    const values = fc.sample(
      fc.oneof(hostile, fc.string({ unit: "binary" }), fc.constant("\ud800x\udfff")),
      300,
    );
    const out = python(
      [
        "import ast, json",
        `src = ${pyStr(values.map(pyStr).join(",\n"))}`,
        "tree = ast.parse('[' + src + ']')",
        "assert len(tree.body) == 1 and len(tree.body[0].value.elts) == len(ast.literal_eval('[' + src + ']'))",
        "print(json.dumps(ast.literal_eval('[' + src + ']')))",
      ].join("\n"),
    );
    expect(out).toEqual(values);
  });
});

describe("Jinja literals and shell words", () => {
  it("render to exactly the string under Jinja's defaults, and split back to the word", () => {
    const values = fc.sample(hostile, 300).filter((s) => !s.includes("\u0000"));
    const out = python(
      [
        "import json, shlex",
        "try:",
        "    import jinja2",
        "except ImportError:",
        "    jinja2 = None",
        `values = json.loads(${pyStr(JSON.stringify(values.map((v) => [jinjaLiteral(v), shellQuote(v)])))})`,
        "env = jinja2.Environment() if jinja2 else None",
        "print(json.dumps([[env.from_string(j).render() if env else None, shlex.split(s)] for j, s in values]))",
      ].join("\n"),
    ) as [string | null, string[]][];
    for (const [i, v] of values.entries()) {
      expect(out[i]![0], NO_JINJA).not.toBeNull();
      expect(out[i]![0]).toBe(v);
      expect(out[i]![1]).toEqual([v]);
    }
  });
});

describe("render airflow with hostile strings", () => {
  const name = hostile.filter((s) => s !== "" && !s.includes(",") && !s.includes("\u0000"));
  const caseOf = fc.record({
    graph: name,
    names: fc.uniqueArray(name, { minLength: 2, maxLength: 4 }),
    env: hostile,
    image: name,
    branch: hostile.filter((s) => !s.includes("\u0000")),
    bash: fc.boolean(),
  });

  it("writes a file that loads with one DAG, the exact edges, and every string literal", () => {
    fc.assert(
      fc.property(caseOf, (c) => {
        const adjacency = Object.fromEntries(
          c.names.map((n, i) => [n, i > 0 ? [c.names[i - 1]!] : []]),
        );
        const graph = graphOf(c.graph, adjacency, {
          [c.names[0]!]: { env: { HOSTILE: c.env } },
          [c.names[1]!]: { group: "grp", env: { HOSTILE: c.env } },
        });
        const text = Object.values(
          renderAirflow({
            spec: specFor(graph, { dockerImage: c.image }),
            graph,
            config: {},
            options: { branch: c.branch, operator: c.bash ? "bash" : "kubernetes" },
          }).files,
        )[0]!;
        const loaded = loadDag(text);
        const units = [c.names[0]!, "grp", ...c.names.slice(2)];
        expect(loaded.statements.filter((s) => s !== "Import" && s !== "ImportFrom")).toEqual([
          "With",
        ]);
        expect(loaded.with_body).toHaveLength(units.length * 2 - 1);
        const dag = loaded.dags[0]!;
        const tasks = Object.values(dag.tasks);
        expect(tasks).toHaveLength(units.length);
        expect(dag.edges).toHaveLength(units.length - 1);
        for (const t of tasks) {
          const command = c.bash ? t.argv! : ["dagwright", ...(t.rendered.arguments as string[])];
          expect(t.template_file_errors).toEqual([]);
          expect(units).toContain(command[1] === "run" ? "grp" : command.at(-1));
          expect(command.at(-2) === c.graph || command.at(-1) === c.graph).toBe(true);
          const env = (c.bash ? t.rendered.env : t.rendered.env_vars) as Record<string, string>;
          expect(env.DAGWRIGHT_BRANCH).toBe(c.branch);
          if (!c.bash) expect(t.rendered.image).toBe(c.image);
          if (command[1] === "run" || command.at(-1) === c.names[0])
            expect(env.HOSTILE).toBe(c.env);
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe("render airflow with hostile config values and a fan-out", () => {
  const text = hostile.filter((s) => !s.includes("\u0000"));
  const caseOf = fc.record({
    tag: text,
    owner: text,
    description: text,
    env: text,
    schedule: text.filter((s) => s.trim() !== ""),
  });

  it("carries DAG arguments and a mapped task's env through as data, adding no statement", () => {
    fc.assert(
      fc.property(caseOf, (c) => {
        const graph = graphOf(
          "g",
          { list: [], each: ["list"] },
          {
            list: { cacheResult: true, iterableItem: ["k"] },
            each: { mapOver: ["k"], bundleSize: 2, env: { HOSTILE: c.env } },
          },
        );
        const config = {
          airflow: {
            dag: {
              schedule: c.schedule,
              tags: [c.tag],
              description: c.description,
              default_args: { owner: c.owner },
            },
          },
        };
        const rendered = renderAirflow({ spec: specFor(graph), graph, config, options: {} });
        const loaded = loadDag(Object.values(rendered.files)[0]!);
        expect(loaded.statements.filter((s) => s !== "Import" && s !== "ImportFrom")).toEqual([
          "FunctionDef",
          "With",
        ]);
        const dag = loaded.dags[0]!;
        expect(dag.kwargs).toMatchObject({
          schedule: c.schedule,
          tags: [c.tag],
          description: c.description,
          default_args: { owner: c.owner },
        });
        expect(dag.edges).toEqual([
          ["each-items", "each"],
          ["list", "each-items"],
        ]);
        const each = dag.tasks.each!;
        expect(each.mapped).toBe(true);
        expect((each.rendered.env_vars as Record<string, string>).HOSTILE).toBe(c.env);
      }),
      { numRuns: 25 },
    );
  });
});
