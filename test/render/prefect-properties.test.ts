import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderPrefect } from "../../src/render/prefect.js";
import { isWellFormedUnicode } from "../../src/render/quote.js";
import { SpecError } from "../../src/spec/errors.js";
import { graphOf, specFor } from "./fixtures.js";

/** Pieces that end a Python literal, start a statement or a YAML node, or mean something to a template. */
const PIECES = [
  '"',
  "'",
  '"""',
  "'''",
  "\\",
  "\n",
  "\r\n",
  "\u0000",
  "\u2028",
  "\u0085",
  "\u007f",
  "\ufeff",
  "{{ 7*7 }}",
  "{{ $HOME }}",
  "{{prefect.variables.x}}",
  "{%",
  "{% raw %}",
  "}}",
  "${HOME}",
  "$(id)",
  "\nimport os\n",
  ")\nprint(1)\n#",
  ": ",
  "- ",
  "#",
  "&a",
  "*a",
  "!!python/object",
  "é",
  "🚀",
  " ",
];
const hostile = hostileStrings(PIECES).filter(isWellFormedUnicode);
const name = hostile.filter((s) => s !== "" && !s.includes(",") && !s.includes("\u0000"));

/** Runs a Python program with `args`, returns its JSON output. */
function python(source: string, ...args: string[]): unknown {
  const r = spawnSync("python3", ["-c", source, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

function write(text: string, file: string): string {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-prop-")), file);
  writeFileSync(out, text);
  return out;
}

/** The node types of a parsed file (its shape), and the dict literals that hold HOSTILE. */
const SHAPE = `
import ast, json, sys
def shape(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    return tree, [type(n).__name__ for n in ast.walk(tree)]
tree, hostile = shape(sys.argv[1])
_, benign = shape(sys.argv[2])
envs = [ast.literal_eval(n) for n in ast.walk(tree) if isinstance(n, ast.Dict)
        and any(isinstance(k, ast.Constant) and k.value == "HOSTILE" for k in n.keys)]
argv = [ast.literal_eval(n) for n in ast.walk(tree) if isinstance(n, ast.List)
        and all(isinstance(e, ast.Constant) for e in n.elts) and n.elts]
tags = [ast.literal_eval(n.value) for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg == "tags"]
print(json.dumps({"same_shape": hostile == benign, "envs": envs, "argv": argv, "tags": tags}))
`;

import { hostileStrings } from "./hostile-strings.js";

interface Case {
  graph: string;
  names: string[];
  env: string;
  branch: string;
  tag: string;
}

function flowOf(c: Case): string {
  const adjacency = Object.fromEntries(c.names.map((n, i) => [n, i > 0 ? [c.names[i - 1]!] : []]));
  const graph = graphOf(c.graph, adjacency, {
    [c.names[0]!]: { env: { HOSTILE: c.env }, tags: [c.tag] },
    [c.names[1]!]: { mapOver: ["k"], env: { HOSTILE: c.env }, groupSize: 2 },
  });
  const files = renderPrefect({
    spec: specFor(graph),
    graph,
    config: {},
    options: { branch: c.branch },
  }).files;
  return Object.values(files)[0]!;
}

describe("render prefect with hostile strings", () => {
  it("writes a flow of the same statements as with plain names, every string an exact literal", () => {
    fc.assert(
      fc.property(
        fc.record({
          graph: name,
          names: fc.uniqueArray(name, { minLength: 2, maxLength: 3 }),
          env: hostile,
          branch: hostile.filter((s) => !s.includes("\u0000")),
          tag: hostile,
        }),
        (c) => {
          const plain: Case = {
            graph: "g",
            names: c.names.map((_, i) => `t${i}`),
            env: "e",
            branch: "b",
            tag: "x",
          };
          const out = python(
            SHAPE,
            write(flowOf(c), "flow.py"),
            write(flowOf(plain), "plain.py"),
          ) as { same_shape: boolean; envs: unknown[]; argv: string[][]; tags: string[][] };
          expect(out.same_shape).toBe(true);
          // The first unit, the items, the rest: each sees the branch and its own env.
          expect(out.envs).toEqual([
            { DAGWRIGHT_BRANCH: c.branch, HOSTILE: c.env },
            { DAGWRIGHT_BRANCH: c.branch, HOSTILE: c.env },
          ]);
          expect(out.argv).toContainEqual(["run-task", "--", c.graph, c.names[0]]);
          expect(out.argv).toContainEqual([
            "run-task",
            "--list-items",
            "--b64",
            "--",
            c.graph,
            c.names[1],
          ]);
          for (const n of c.names.slice(2))
            expect(out.argv).toContainEqual(["run-task", "--", c.graph, n]);
          expect(out.tags).toEqual([[c.tag]]);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("render prefect --infra work-pool: prefect.yaml with hostile values", () => {
  const text = hostile.filter((s) => !s.includes("\u0000"));
  const caseOf = fc.record({
    project: text,
    pool: text.filter((s) => s !== ""),
    image: text.filter((s) => s !== ""),
    dir: text.filter((s) => s !== ""),
    key: text,
    value: fc.oneof(text, fc.integer(), fc.boolean(), fc.array(text, { maxLength: 2 })),
  });

  it("writes the values as printable ASCII YAML that reads back the same (yaml and PyYAML), or refuses {{ naming the field", () => {
    fc.assert(
      fc.property(caseOf, (c) => {
        const graph = graphOf("g", { a: [] });
        const jobVariables = { [c.key]: c.value };
        const render = () =>
          renderPrefect({
            spec: specFor(graph, { name: c.project }),
            graph,
            config: { prefect: { working_dir: c.dir, job_variables: jobVariables } },
            options: { infra: "work-pool", workPool: c.pool, image: c.image },
          });
        const placeholders = [
          [c.project, "settings.name"],
          [c.pool, "--work-pool (or config.prefect.work_pool)"],
          [c.image, "the image (--image, config.image or settings.docker_image)"],
          [c.dir, "config.prefect.working_dir"],
          [c.key, "config.prefect.job_variables (a key)"],
          [JSON.stringify(c.value), `config.prefect.job_variables.${c.key}`],
        ].filter(([v]) => v!.includes("{{"));
        if (placeholders.length > 0) {
          let error: unknown;
          try {
            render();
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(SpecError);
          const paths = (error as SpecError).diagnostics.map((d) => d.path);
          for (const [, field] of placeholders)
            expect(paths.some((p) => p.startsWith(field!))).toBe(true);
          return;
        }
        const yamlText = render().files["prefect.yaml"]!;
        expect(yamlText).toMatch(/^[\u0020-\u007e\n]*$/);
        const expected = {
          name: c.project,
          directory: c.dir,
          pools: [c.pool, c.pool],
          jobVariables: [
            { ...jobVariables, image: c.image },
            { ...jobVariables, image: c.image },
          ],
        };
        const view = (doc: {
          name: string;
          pull: { [k: string]: { directory: string } }[];
          deployments: { work_pool: { name: string; job_variables: unknown } }[];
        }) => ({
          name: doc.name,
          directory: doc.pull[0]!["prefect.deployments.steps.set_working_directory"]!.directory,
          pools: doc.deployments.map((d) => d.work_pool.name),
          jobVariables: doc.deployments.map((d) => d.work_pool.job_variables),
        });
        expect(view(parse(yamlText))).toEqual(expected);
        const py = python(
          "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))",
          write(yamlText, "prefect.yaml"),
        );
        expect(view(py as Parameters<typeof view>[0])).toEqual(expected);
      }),
      { numRuns: 40 },
    );
  });
});
