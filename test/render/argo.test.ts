import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { buildGraph } from "../../src/graph/build-graph.js";
import type { Graph } from "../../src/graph/graph.js";
import { type ArgoOptions, renderArgo } from "../../src/render/argo.js";
import { DagwrightError, SpecError } from "../../src/spec/errors.js";
import { loadSpec } from "../../src/spec/load-spec.js";
import { resolveConfig } from "../../src/spec/resolve-config.js";
import type { Spec } from "../../src/spec/types.js";
import { REPO } from "../helpers.js";
import {
  expectGolden,
  GOLDEN,
  graphOf,
  type ManifestYaml,
  specFor,
  templateNamed as template,
} from "./fixtures.js";
import { validateArgo } from "./validate-argo.js";

function example(dir: string, graphName?: string): { spec: Spec; graph: Graph } {
  const spec = loadSpec({ file: path.join(REPO, "examples", dir, "dagwright.yaml") });
  return { spec, graph: buildGraph(spec, graphName) };
}

function render(
  spec: Spec,
  graph: Graph,
  options: ArgoOptions = {},
  config: Record<string, unknown> = resolveConfig(spec, graph.name, {
    ...(options.env !== undefined ? { env: options.env } : {}),
  }),
) {
  return renderArgo({ spec, graph, config, options });
}

/** The only file of a render, parsed. */
function manifest(r: { files: Record<string, string> }): ManifestYaml {
  return parse(Object.values(r.files)[0]!) as ManifestYaml;
}

/** A template's container (throws when it has none). */
function containerOf(m: ManifestYaml, name: string) {
  const c = template(m, name).container;
  if (c === undefined) throw new Error(`template "${name}" has no container`);
  return c;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpecError)
      return err.diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    throw err;
  }
  throw new Error("expected a SpecError");
}

const OVERRIDE = `# rendered by a project template
{{ yaml(workflow) | replace("generateName: " + graph, "generateName: custom-" + graph) }}`;

describe("renderArgo: golden manifests", () => {
  it("renders the argo example (fan-out, group, GPU, secrets, sidecar and init templates)", () => {
    const { spec, graph } = example("argo", "daily");
    const r = render(spec, graph);
    expect(Object.keys(r.files)).toEqual(["daily.argo.yaml"]);
    expect(r.warnings).toEqual([]);
    expectGolden("daily.argo.yaml", r.files["daily.argo.yaml"]!);
  });

  it("renders a WorkflowTemplate for an environment, branch, service account and state secret", () => {
    const { spec, graph } = example("argo", "daily");
    const r = render(spec, graph, {
      kind: "WorkflowTemplate",
      env: "cloud",
      branch: "release/2024",
      namespace: "data-team",
      serviceAccountName: "pipeline-runner",
      stateUrlSecret: { name: "pipeline-db", key: "postgres-url" },
      image: "registry.example/argo-demo@sha256:0123",
    });
    expectGolden("daily-template.argo.yaml", r.files["daily.argo.yaml"]!);
  });

  it("renders the quickstart with an image from the options", () => {
    const { spec, graph } = example("quickstart");
    const r = render(spec, graph, { image: "registry.example/quickstart:latest" });
    expectGolden("sales.argo.yaml", r.files["sales.argo.yaml"]!);
  });

  it("renders a fan-out over keys without a parallelism cap, and hostile env values", () => {
    const graph = graphOf(
      "fan",
      { states: [], per_state: ["states"], report: ["per_state"] },
      {
        states: { cacheResult: true, iterableItem: ["state"] },
        per_state: {
          mapOver: ["state"],
          retries: 3,
          timeoutSeconds: 90.5,
          compute: { cpu: 1 / 3, memoryMiB: 700.2 },
          env: { FORMAT: "{{.Name}}: $(HOME) 'x' \"y\"\n# not a comment", PLAIN: "yes" },
        },
      },
    );
    const r = render(specFor(graph), graph, {}, {});
    expectGolden("fan.argo.yaml", r.files["fan.argo.yaml"]!);
  });

  it("renders a whole-file Nunjucks override with the manifest and the yaml helper", () => {
    const { spec, graph } = example("argo", "daily");
    const r = render(spec, graph, { template: OVERRIDE });
    const text = r.files["daily.argo.yaml"]!;
    expect(text.startsWith("# rendered by a project template\n")).toBe(true);
    expect(manifest(r).metadata.generateName).toBe("custom-daily-");
    expectGolden("daily-override.argo.yaml", text);
  });

  it("writes goldens that the Argo validator accepts", () => {
    const files = readdirSync(GOLDEN).filter((f) => f.endsWith(".argo.yaml"));
    expect(files.length).toBeGreaterThanOrEqual(5);
    const manifests = Object.fromEntries(
      files.map((f) => [f, readFileSync(path.join(GOLDEN, f), "utf8")]),
    );
    expect(validateArgo(manifests)).toEqual([]);
  });
});

describe("renderArgo: behaviour", () => {
  it("is deterministic: the same input renders the same bytes, from a fresh load too", () => {
    const a = example("argo", "daily");
    const b = example("argo", "daily");
    const first = render(a.spec, a.graph).files;
    expect(render(a.spec, a.graph).files).toEqual(first);
    expect(render(b.spec, b.graph).files).toEqual(first);
  });

  it("runs every unit through dagwright with exact dependencies between units", () => {
    const { spec, graph } = example("argo", "daily");
    const m = manifest(render(spec, graph));
    const dag = template(m, "main").dag!.tasks.map((t) => [t.name, t.dependencies ?? []]);
    expect(dag).toEqual([
      ["init-run-prefix", []],
      ["regions", ["init-run-prefix"]],
      ["fetch-items", ["regions"]],
      ["fetch", ["fetch-items"]],
      ["preprocess", ["fetch"]],
      ["train", ["preprocess"]],
      ["load-graph", ["preprocess"]],
    ]);
    expect(containerOf(m, "regions").args).toEqual(["run-task", "--", "daily", "regions"]);
    expect(containerOf(m, "preprocess").args).toEqual([
      "run",
      "--only=clean,summarize",
      "--",
      "daily",
    ]);
    expect(containerOf(m, "fetch-items").args).toEqual([
      "run-task",
      "--list-items",
      "--bundle-size=5",
      "--",
      "daily",
      "fetch",
    ]);
    expect(containerOf(m, "fetch-each").args).toEqual([
      "run-task",
      "--bundle={{inputs.parameters.item}}",
      "--",
      "daily",
      "fetch",
    ]);
    expect(template(m, "fetch").parallelism).toBe(2);
  });

  it("passes secrets only as secretKeyRefs and init outputs as env values", () => {
    const { spec, graph } = example("argo", "daily");
    const m = manifest(render(spec, graph));
    const env = containerOf(m, "train").env;
    expect(env).toContainEqual({
      name: "WANDB_API_KEY",
      valueFrom: { secretKeyRef: { name: "wandb", key: "api-key" } },
    });
    expect(env).toContainEqual({
      name: "DAGWRIGHT_STATE_URL",
      valueFrom: { secretKeyRef: { name: "dagwright-state", key: "url" } },
    });
    expect(env).toContainEqual({
      name: "RUN_PREFIX",
      value: "{{inputs.parameters.init-run-prefix-run_prefix}}",
    });
    const secretEnv = env.filter((e) => e.valueFrom !== undefined);
    expect(secretEnv.every((e) => e.value === undefined)).toBe(true);
  });

  it("sets requests and limits from compute and machine types, with a GPU toleration", () => {
    const { spec, graph } = example("argo", "daily");
    const m = manifest(render(spec, graph));
    const train = template(m, "train");
    const gpu = { cpu: "4", memory: "16384Mi", "nvidia.com/gpu": "1" };
    expect(train.container?.resources).toEqual({ requests: gpu, limits: gpu });
    expect(train.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
    ]);
    expect(train.activeDeadlineSeconds).toBe(7200);
    expect(containerOf(m, "fetch-each").resources?.limits).toEqual({
      cpu: "0.25",
      memory: "512Mi",
    });
    expect(template(m, "fetch-each").retryStrategy).toEqual({ limit: "2", retryPolicy: "Always" });
    expect(containerOf(m, "preprocess").resources?.limits).toEqual({
      cpu: "1",
      memory: "2048Mi",
    });
  });

  it("merges dagwright's container into a custom template, keeping its sidecars and volumes", () => {
    const { spec, graph } = example("argo", "daily");
    const t = template(manifest(render(spec, graph)), "load-graph");
    expect(t.sidecars?.[0]?.name).toBe("neo4j");
    expect(t.volumes).toEqual([{ name: "scratch", emptyDir: {} }]);
    expect(t.container?.volumeMounts).toEqual([{ name: "scratch", mountPath: "/scratch" }]);
    expect(t.container?.command).toEqual(["dagwright"]);
    expect(t.container?.image).toBe("ghcr.io/example/argo-demo:1.4.0");
  });

  it("rejects an unknown template, naming the task and the declared templates", () => {
    const graph = graphOf("g", { a: [], load: ["a"] }, { load: { template: "neo4jj" } });
    const config = { argo: { templates: { neo4j: { sidecars: [] }, spark: {} } } };
    expect(problems(() => render(specFor(graph), graph, {}, config))).toEqual([
      'task "load" uses template "neo4jj", which config.argo.templates does not declare. Did you mean "neo4j"?',
    ]);
    try {
      render(specFor(graph), graph, {}, config);
    } catch (err) {
      expect((err as SpecError).code).toBe("E_SPEC");
      expect((err as SpecError).diagnostics[0]!.hint).toBe("declared templates: neo4j, spark");
    }
  });

  it("rejects a cyclic grouping with the path over units and tasks", () => {
    const graph = graphOf(
      "g",
      { a: [], x: ["a"], b: ["x"] },
      { a: { group: "G" }, b: { group: "G" } },
    );
    expect(problems(() => render(specFor(graph), graph, {}, {}))).toEqual([
      'group "G" would depend on itself: G → x → G (a → x → b)',
    ]);
  });

  it("returns a warning when a group mixes machine types", () => {
    const graph = graphOf(
      "g",
      { a: [], b: ["a"] },
      { a: { group: "G", machineType: "small" }, b: { group: "G", machineType: "big" } },
    );
    const config = { machine_types: { small: { cpu: 1 }, big: { cpu: 8, memory: 1024 } } };
    const r = render(specFor(graph), graph, {}, config);
    expect(r.warnings).toEqual([
      'dagwright.yaml:1:1 tasks.a.group: group "G" mixes machine types: "a" uses "small"; "b" uses "big"; the group gets the largest of each resource (cpu 8, memory 1024 MiB)\n  hint: give the tasks of group "G" one machine type, or split the group',
    ]);
    expect(containerOf(manifest(r), "g").resources?.limits).toEqual({
      cpu: "8",
      memory: "1024Mi",
    });
  });

  it("requires an image, valid Kubernetes secret names and consistent group secrets", () => {
    const graph = graphOf(
      "g",
      { a: [], b: ["a"] },
      {
        a: { group: "G", secrets: [{ env: "TOKEN", name: "API_TOKEN", key: "TOKEN" }] },
        b: { group: "G", secrets: [{ env: "TOKEN", name: "other", key: "token" }] },
      },
    );
    expect(
      problems(() => render(specFor(graph, { dockerImage: undefined }), graph, {}, {})),
    ).toEqual([
      "no container image for the Argo manifest",
      'task "a": secret name "API_TOKEN" is not a valid Kubernetes Secret name',
      'group "G": tasks "a" and "b" read TOKEN from different secrets (API_TOKEN/TOKEN and other/token), but share one container',
    ]);
  });

  it("rejects a group member whose name cannot be listed in --only, and {{ in the branch", () => {
    const graph = graphOf(
      "g",
      { "a,b": [], c: ["a,b"] },
      { "a,b": { group: "G" }, c: { group: "G" } },
    );
    expect(problems(() => render(specFor(graph), graph, { branch: "{{x}}" }, {}))).toEqual([
      'the branch "{{x}}" contains "{{", which Argo would evaluate (it has no escape for it)',
      'task "a,b" has a comma in its name, so it cannot be listed in --only for group "G"',
    ]);
  });

  it("rejects strings UTF-8 cannot carry instead of failing to serialize them", () => {
    const graph = graphOf("g", { a: [] }, { a: { env: { BAD: "x\ud800" } } });
    expect(problems(() => render(specFor(graph), graph, {}, {}))).toEqual([
      'task "a": env BAD is not valid Unicode (a lone surrogate)',
    ]);
  });

  it("rejects a machine type config in argo-kedro's units, and unknown config.argo keys", () => {
    const graph = graphOf("g", { a: [] });
    const config = { machine_types: { big: { mem: 16 } }, argo: { working_dri: "/app" } };
    expect(problems(() => render(specFor(graph), graph, {}, config))).toEqual([
      'unknown key "working_dri". Did you mean "working_dir"?',
      'unknown key "mem"',
    ]);
  });

  it("carries env values with {{ as base64 and escapes $ for Kubernetes", () => {
    const graph = graphOf(
      "g",
      { a: [] },
      { a: { env: { TPL: "{{workflow.name}}", CMD: "echo $(whoami) $$" } } },
    );
    const env = containerOf(manifest(render(specFor(graph), graph, {}, {})), "a").env;
    expect(env).toContainEqual({
      name: "DAGWRIGHT_ENV_B64_TPL",
      value: Buffer.from("{{workflow.name}}").toString("base64"),
    });
    expect(env).toContainEqual({ name: "CMD", value: "echo $$(whoami) $$$$" });
  });

  it("gives Load_Data and load.data distinct DAG task names that Argo accepts", () => {
    const graph = graphOf("Daily Sales", { Load_Data: [], "load.data": ["Load_Data"] });
    const r = render(specFor(graph), graph, {}, {});
    const m = manifest(r);
    const names = template(m, "main").dag!.tasks.map((t) => t.name);
    expect(names).toHaveLength(2);
    expect(new Set(names).size).toBe(2);
    expect(names.every((n: string) => /^load-data-[0-9a-f]{6}$/.test(n))).toBe(true);
    expect(m.metadata.generateName).toBe("daily-sales-");
    expect(Object.keys(r.files)).toEqual(["daily-sales.argo.yaml"]);
    expect(validateArgo(r.files)).toEqual([]);
  });

  it("reports a failing override template as a usage error", () => {
    const { spec, graph } = example("argo", "daily");
    const run = (template: string) => () => render(spec, graph, { template });
    expect(run("{{ nope.x }}")).toThrow(DagwrightError);
    expect(run("{{ nope }}")).toThrow(
      /^the Argo template override failed: \[Line 1, Column 1\]\s+attempted to output null or undefined value$/,
    );
    expect(run("a: [\n")).toThrow(/the Argo template override produced invalid YAML/);
  });
});
