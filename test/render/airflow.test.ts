import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildGraph } from "../../src/graph/build-graph.js";
import { type AirflowOptions, renderAirflow } from "../../src/render/airflow.js";
import { SpecError } from "../../src/spec/errors.js";
import { loadSpec } from "../../src/spec/load-spec.js";
import { resolveConfig } from "../../src/spec/resolve-config.js";
import { makeProject, REPO, runCli } from "../helpers.js";
import { loadDag } from "./airflow-fixtures.js";
import { expectGolden, graphOf, specFor } from "./fixtures.js";

function renderExample(options: AirflowOptions = {}, graphName = "daily") {
  const spec = loadSpec({ file: path.join(REPO, "examples", "airflow", "dagwright.yaml") });
  const graph = buildGraph(spec, graphName);
  return renderAirflow({ spec, graph, config: resolveConfig(spec, graph.name), options });
}

function only(files: Record<string, string>): string {
  return Object.values(files)[0]!;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpecError) return err.diagnostics.map((d) => d.message);
    throw err;
  }
  throw new Error("expected a SpecError");
}

describe("render airflow: the example pipeline", () => {
  it("writes daily_dag.py as in the golden file", () => {
    const r = renderExample();
    expect(Object.keys(r.files)).toEqual(["daily_dag.py"]);
    expect(r.warnings).toEqual([]);
    expectGolden("daily.airflow.py", only(r.files));
  });

  it("loads in Airflow's way with exactly the graph's edges, init task first", () => {
    const dag = loadDag(only(renderExample().files)).dags[0]!;
    expect(dag.dag_id).toBe("daily");
    expect(dag.edges).toEqual([
      ["fetch", "preprocess"],
      ["fetch-items", "fetch"],
      ["init-check-state", "regions"],
      ["preprocess", "train"],
      ["regions", "fetch-items"],
    ]);
    expect(dag.kwargs.schedule).toBe("0 3 * * *");
    expect(dag.kwargs.default_args).toEqual({
      owner: "data-platform",
      retry_delay: { timedelta: 120 },
    });
  });

  it("renders the example's graph without fan-out (what CI gives the shared checker) with its edges", () => {
    const dag = loadDag(only(renderExample({}, "retrain").files)).dags[0]!;
    expect(dag.dag_id).toBe("retrain");
    expect(dag.edges).toEqual([
      ["init-check-state", "preprocess"],
      ["preprocess", "train"],
    ]);
    expect(Object.values(dag.tasks).some((t) => t.mapped)).toBe(false);
  });

  it("runs each unit's dagwright command with the state URL from a Secret, as the Argo pods do", () => {
    const { tasks } = loadDag(only(renderExample().files)).dags[0]!;
    expect(tasks.regions!.rendered.arguments).toEqual(["run-task", "--", "daily", "regions"]);
    expect(tasks.preprocess!.rendered.arguments).toEqual([
      "run",
      "--only=clean,summarize",
      "--",
      "daily",
    ]);
    expect(tasks.train!.kwargs.secrets).toEqual([
      { Secret: ["env", "DAGWRIGHT_STATE_URL", "dagwright-state", "url"] },
      { Secret: ["env", "WANDB_API_KEY", "wandb", "api-key"] },
    ]);
    expect(tasks.train!.kwargs.tolerations).toEqual([
      { V1Toleration: { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" } },
    ]);
    expect(tasks.train!.kwargs.node_selector).toEqual({
      "cloud.google.com/gke-accelerator": "nvidia-l4",
    });
    expect(tasks.train!.kwargs.execution_timeout).toEqual({ timedelta: 7200 });
  });

  it("maps a fan-out over the listed bundles, at most group_size at once", () => {
    const { tasks } = loadDag(only(renderExample().files)).dags[0]!;
    const list = tasks["fetch-items"]!;
    expect(list.kwargs.do_xcom_push).toBe(true);
    expect(list.kwargs.cmds).toEqual([
      "sh",
      "-c",
      'dagwright "$@" > /airflow/xcom/return.json',
      "dagwright",
    ]);
    expect(list.rendered.arguments).toEqual([
      "run-task",
      "--list-items",
      "--bundle-size=2",
      "--",
      "daily",
      "fetch",
    ]);
    const fetch = tasks.fetch!;
    expect(fetch.mapped).toBe(true);
    expect(fetch.kwargs.max_active_tis_per_dagrun).toBe(2);
    expect(fetch.kwargs.retries).toBe(2);
    expect(fetch.expand).toEqual({
      arguments: {
        from: "fetch-items",
        sample: ["run-task", "--bundle=S0", "--", "daily", "fetch"],
      },
    });
  });

  it("keeps {{ in an env value literal: Airflow's Jinja renders it unchanged", () => {
    const loaded = loadDag(only(renderExample().files));
    const env = loaded.dags[0]!.tasks.fetch!.rendered.env_vars as Record<string, string>;
    expect(env.USER_AGENT).toBe("dagwright-demo/1.0 (+https://example.org) {{ not a template }}");
    expect(env.DAGWRIGHT_RUN_ID).toBe("RUN_ID");
  });

  it("uses Airflow 2 names with airflow: 2 (schedule_interval, airflow.DAG)", () => {
    const text = only(renderExample({ airflow: 2 }).files);
    expect(text).toContain("from airflow import DAG\n");
    const dag = loadDag(text, 2).dags[0]!;
    expect(dag.kwargs.schedule_interval).toBe("0 3 * * *");
    expect(dag.kwargs.schedule).toBeUndefined();
    expect(() => loadDag(text, 3)).toThrow(/schedule_interval/);
  });
});

describe("render airflow --operator bash", () => {
  const graph = graphOf(
    "g",
    { items: [], each: ["items"], "it's done.sh": ["each"] },
    {
      items: { iterableItem: ["x"], cacheResult: true },
      each: { mapOver: ["x"], groupSize: 3, env: { QUOTE: "it's $HOME\n" } },
    },
  );

  it("runs the same commands, shell-quoted, on the worker", () => {
    const text = only(
      renderAirflow({ spec: specFor(graph), graph, config: {}, options: { operator: "bash" } })
        .files,
    );
    expectGolden("g.airflow-bash.py", text);
    const { tasks, edges } = loadDag(text).dags[0]!;
    expect(edges).toEqual([
      ["each", "it_s_done.sh-a1f8d9"],
      ["each-items", "each"],
      ["items", "each-items"],
    ]);
    expect(tasks["each-items"]!.argv).toEqual([
      "dagwright",
      "run-task",
      "--list-items",
      "--b64",
      "--",
      "g",
      "each",
    ]);
    expect(tasks["each-items"]!.kwargs.output_processor).toEqual({ callable: "loads" });
    expect(tasks.each!.kwargs.max_active_tis_per_dagrun).toBe(3);
    expect(tasks.each!.kwargs.append_env).toBe(true);
    const last = Object.values(tasks).find((t) => t.argv?.includes("it's done.sh"))!;
    expect(last.argv).toEqual(["dagwright", "run-task", "--", "g", "it's done.sh"]);
    expect(last.template_file_errors).toEqual([]);
  });

  it("refuses secrets and GPUs, naming the task, the feature and the target", () => {
    const g = graphOf(
      "g",
      { a: [], b: [] },
      {
        a: { secrets: [{ env: "TOKEN", name: "api", key: "token" }] },
        b: { compute: { gpu: 1 } },
      },
    );
    expect(
      problems(() =>
        renderAirflow({ spec: specFor(g), graph: g, config: {}, options: { operator: "bash" } }),
      ),
    ).toEqual([
      'task "a" uses secrets (Kubernetes Secret references), which render airflow --operator bash cannot express',
      'task "b" uses a GPU, which render airflow --operator bash cannot express',
    ]);
  });
});

describe("render airflow: what it refuses", () => {
  it("names the task and the target for an Argo pod template, and a machine tag not declared", () => {
    const g = graphOf("g", { a: [], b: [] }, { a: { template: "neo4j" }, b: { tags: ["m:huge"] } });
    const config = { airflow: { machine_tag_prefix: "m:" }, machine_types: { small: { cpu: 1 } } };
    expect(
      problems(() => renderAirflow({ spec: specFor(g), graph: g, config, options: {} })),
    ).toEqual([
      'task "b" has tag "m:huge", but config.machine_types does not declare "huge"',
      'task "a" uses template "neo4j" (an Argo pod template: sidecars, volumes), which render airflow cannot express',
    ]);
  });

  it("rejects schedule_interval in config, pointing at schedule", () => {
    const g = graphOf("g", { a: [] });
    const config = { airflow: { dag: { schedule_interval: "@daily" } } };
    expect(
      problems(() => renderAirflow({ spec: specFor(g), graph: g, config, options: {} })),
    ).toEqual(['unknown DAG argument "schedule_interval"']);
  });

  it("gives distinct valid task ids to names that differ only in characters Airflow refuses", () => {
    const g = graphOf("g", { "a b": [], a_b: [], [`${"x".repeat(300)}`]: [] });
    const { tasks } = loadDag(
      only(renderAirflow({ spec: specFor(g), graph: g, config: {}, options: {} }).files),
    ).dags[0]!;
    const ids = Object.keys(tasks);
    expect(ids).toHaveLength(3);
    expect(ids).toContain("a_b");
    for (const id of ids) expect(id).toMatch(/^[\w.-]{1,250}$/);
  });
});

describe("the DAG loader harness", () => {
  it("fails a DAG file that does I/O at import time, or passes an unknown operator argument", () => {
    const header =
      "from airflow.sdk import DAG\nfrom airflow.providers.standard.operators.bash import BashOperator\n";
    expect(() => loadDag(`${header}open("/etc/hostname").read()\n`)).toThrow(/did I\/O/);
    expect(() =>
      loadDag(
        `${header}with DAG(dag_id="d"):\n    BashOperator(task_id="a", bash_command="x", bash_cmd="y")\n`,
      ),
    ).toThrow(/Invalid arguments were passed to BashOperator/);
  });
});

describe("dagwright render airflow (CLI)", () => {
  it("lists the targets in render --help", () => {
    const r = runCli(["render", "--help"], REPO);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s+/g, " ")).toContain(
      "(targets: argo, airflow, prefect, stepfunctions)",
    );
  });

  it("writes one DAG file, and exits 2 naming the task for a feature Airflow cannot express", () => {
    const dir = makeProject({
      "dagwright.yaml": [
        "settings: { name: p, docker_image: 'reg.example/p:1' }",
        "graphs: { main: { tasks: { a: , b: a } } }",
        "tasks:",
        "  a: { command: [echo, a] }",
        "  b: { command: [echo, b], template: sidecar }",
        "",
      ].join("\n"),
    });
    const bad = runCli(["render", "airflow", "main", "--out", "dags"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'tasks.b: task "b" uses template "sidecar" (an Argo pod template: sidecars, volumes), which render airflow cannot express',
    );
    writeFileSync(
      path.join(dir, "dagwright.yaml"),
      readFileSync(path.join(dir, "dagwright.yaml"), "utf8").replace(", template: sidecar", ""),
    );
    const ok = runCli(["render", "airflow", "main", "--out", "dags", "--airflow", "2"], dir);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(readdirSync(path.join(dir, "dags"))).toEqual(["main_dag.py"]);
    const dag = loadDag(readFileSync(path.join(dir, "dags", "main_dag.py"), "utf8"), 2).dags[0]!;
    expect(dag.edges).toEqual([["a", "b"]]);
  });

  it("refuses a group made by config.airflow's tag prefix that a path leaves, pointing at the tags", () => {
    const dir = makeProject({
      "dagwright.yaml": [
        "settings: { docker_image: 'reg.example/p:1' }",
        'config: { airflow: { group_tag_prefix: "airflow:" } }',
        "graphs: { main: { tasks: { a: , b: a, c: b } } }",
        "tasks:",
        '  a: { command: [echo, a], tags: ["airflow:grp"] }',
        "  b: { command: [echo, b] }",
        '  c: { command: [echo, c], tags: ["airflow:grp"] }',
        "",
      ].join("\n"),
    });
    const r = runCli(["render", "airflow", "main", "--out", "dags"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'tasks.a.tags: group "grp" would depend on itself: grp → b → grp (a → b → c)',
    );
    expect(r.stderr).toContain('add "b" to group "grp", or take "a" or "c" out of it');
    expect(existsSync(path.join(dir, "dags"))).toBe(false);
  });
});
