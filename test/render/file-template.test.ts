import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

const HOSTILE = `a"b'''c\\\\d\\n{{ e }} {% f %} \${g} $(h) \u2028 é`;

const SPEC = `settings: { name: tpl, docker_image: "reg/tpl:1" }
graphs:
  g:
    tasks:
      load:
      clean: load
tasks:
  load:
    command: [sh, -c, "echo load"]
    env:
      NOTE: ${JSON.stringify(HOSTILE)}
  clean:
    command: [sh, -c, "echo clean"]
    retries: 2
    compute: { cpu: 1, memory: 512 }
`;

/** A kedro-airflow-style template: its own DAG header, the built-in operators, and the edges. */
const AIRFLOW_TEMPLATE = `# custom header for {{ dag_id }}
{{ parts.imports }}
NOTES = { {% for u in units %}{{ py(u.id) }}: {{ py(u.env.NOTE or "") }}, {% endfor %}}
RETRIES = { {% for u in units %}{{ py(u.name) }}: {{ u.retries }}, {% endfor %}}
{{ parts.functions }}
with {{ parts.dag }} as dag:
{% for op in parts.operators %}    {{ op.variable }} = {{ op.code | replace("\\n", "\\n    ") }}
{% endfor %}{% for e in edges %}    {{ e[0] }} >> {{ e[1] }}
{% endfor %}`;

/** Loads a Python file's literals back: NOTES and RETRIES must round-trip exactly. */
function pythonValues(file: string, names: string[]): Record<string, unknown> {
  const code = `import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
out = {}
for node in tree.body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in sys.argv[2:]:
        out[node.targets[0].id] = ast.literal_eval(node.value)
print(json.dumps(out))`;
  const r = spawnSync("python3", ["-c", code, file, ...names], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("render --template", () => {
  it("airflow: feeds the template the data and parts of the built-in DAG; values quoted with py() round-trip", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "dag.j2": AIRFLOW_TEMPLATE });
    const r = runCli(["render", "airflow", "--template", "dag.j2", "--out", "out"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const file = path.join(dir, "out", "g_dag.py");
    const text = readFileSync(file, "utf8");
    expect(text.startsWith("# custom header for g\n")).toBe(true);
    expect(text).toContain("KubernetesPodOperator(");
    expect(text).toContain("unit_0 >> unit_1");
    expect(pythonValues(file, ["NOTES", "RETRIES"])).toEqual({
      NOTES: { load: HOSTILE, clean: "" },
      RETRIES: { load: 0, clean: 2 },
    });
  });

  it("prefect: the template sees units with their commands and job variables", () => {
    const template = `UNITS = [{% for u in units %}({{ py(u.id) }}, {{ py(u.command) }}, {{ py(u.job_variables) }}), {% endfor %}]
{{ default }}`;
    const dir = makeProject({ "dagwright.yaml": SPEC, "flow.j2": template });
    const r = runCli(["render", "prefect", "--template", "flow.j2", "--out", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(dir, "g_flow.py");
    expect(pythonValues(file, ["UNITS"]).UNITS).toEqual([
      ["load", ["run-task", "--", "g", "load"], {}],
      ["clean", ["run-task", "--", "g", "clean"], { cpu: 1024, memory: 512 }],
    ]);
    expect(readFileSync(file, "utf8")).toContain("def dagwright_flow():");
  });

  it("says where a template fails and how to fix it (exit 2)", () => {
    const dir = makeProject({ "dagwright.yaml": SPEC, "bad.j2": "{{ nope.x }}" });
    writeFileSync(path.join(dir, "bad2.j2"), "{% for %}");
    const r = runCli(["render", "airflow", "--template", "bad.j2", "--out", "out"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the Airflow template override failed");
    expect(r.stderr).toContain("hint: it sees graph, dag_id, units, edges, parts, default, config");
    const p = runCli(["render", "prefect", "--template", "bad2.j2", "--out", "out"], dir);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain("the Prefect template override failed");
  });
});
