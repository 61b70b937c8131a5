import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { BIN, makeProject, runCli } from "../helpers.js";
import { type PostgresService, startPostgres } from "../services/postgres.js";
import { validateArgo } from "./validate-argo.js";

let pgService: PostgresService;
beforeAll(async () => {
  pgService = await startPostgres();
}, 300_000);
afterAll(async () => {
  await pgService?.stop();
});

const SPEC = `settings:
  docker_image: registry.example/sim:1
graphs:
  sim:
    tasks:
      states:
      per_state: states
      clean: per_state
      summarize: clean
      report: summarize
tasks:
  states:
    file: tasks/states.py
    cache_result: true
    iterable_item: state
  per_state:
    command: "echo \\"$state $GREETING\\" > out/$state.txt; echo $state >> calls.txt"
    map_over: state
    bundle_size: 2
    outputs: ["out/\${state}.txt"]
    env:
      GREETING: "hello {{workflow.name}} $(HOME)"
  clean:
    command: [sh, -c, "cat out/*.txt | sort > out/all.txt; echo clean >> calls.txt"]
    group: prep
    outputs: [out/all.txt]
  summarize:
    command: [sh, -c, "wc -l < out/all.txt > out/count.txt; echo summarize >> calls.txt"]
    group: prep
    outputs: [out/count.txt]
  report:
    command: [sh, -c, "cat out/count.txt out/all.txt > out/report.txt; echo report >> calls.txt"]
    outputs: [out/report.txt]
`;

const FILES = {
  "dagwright.yaml": SPEC,
  "tasks/states.py":
    "import os\n\ndef states():\n    os.makedirs('out', exist_ok=True)\n    return ['NC', 'SC', 'VA', 'GA', 'FL']\n",
};

interface Container {
  args: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
}
interface DagTask {
  name: string;
  template: string;
  dependencies?: string[];
  withParam?: string;
}
interface Template {
  name: string;
  dag?: { tasks: DagTask[] };
  container?: Container;
}

/**
 * Kubernetes expands `$(VAR)` in args and env values from the container's declared env (an
 * undeclared name stays as written); `$$` is a literal `$`.
 */
function kubeExpand(s: string, env: Record<string, string> = {}): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name?: string) =>
    whole === "$$" ? "$" : (env[name!] ?? whole),
  );
}

/**
 * Runs a rendered Workflow the way Argo would, on this machine: each DAG task's container
 * command in dependency order, withParam fan-out from the listing step's stdout, the state URL
 * from the "secret" (our PostgreSQL), every pod sharing the project directory (the PVC).
 */
function simulate(
  manifest: { spec: { templates: Template[] } },
  dir: string,
  workflowName: string,
): { task: string; stderr: string }[] {
  const templates = new Map(manifest.spec.templates.map((t) => [t.name, t]));
  const main = templates.get("main")!.dag!.tasks;
  const results = new Map<string, string>();
  const done = new Set<string>();
  const log: { task: string; stderr: string }[] = [];
  const runContainer = (task: string, t: Template, item?: string) => {
    const c = t.container!;
    const declared: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined)
        declared[e.name] = kubeExpand(e.value.replaceAll("{{workflow.name}}", workflowName));
      else if (e.name === "DAGWRIGHT_STATE_URL") declared[e.name] = pgService.url;
    }
    const env = { ...process.env, NO_COLOR: "1", ...declared } as Record<string, string>;
    const args = c.args.map((a) =>
      kubeExpand(
        item === undefined ? a : a.replaceAll("{{inputs.parameters.item}}", item),
        declared,
      ),
    );
    expect(args.join(" ")).not.toContain("{{");
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: "utf8" });
    log.push({ task, stderr: r.stderr });
    expect(r.status, `${task} ${args.join(" ")}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  while (done.size < main.length) {
    const ready = main.filter(
      (t) => !done.has(t.name) && (t.dependencies ?? []).every((d) => done.has(d)),
    );
    expect(ready.length).toBeGreaterThan(0);
    for (const t of ready) {
      const template = templates.get(t.template)!;
      if (t.withParam) {
        const source = /^\{\{tasks\.([^.]+)\.outputs\.result\}\}$/.exec(t.withParam)![1]!;
        const items = JSON.parse(results.get(source)!) as string[];
        for (const item of items) runContainer(t.name, template, item);
      } else {
        results.set(t.name, runContainer(t.name, template).trim());
      }
      done.add(t.name);
    }
  }
  return log;
}

function outputsOf(dir: string): Record<string, string> {
  const out = path.join(dir, "out");
  return Object.fromEntries(
    readdirSync(out)
      .sort()
      .map((f) => [f, readFileSync(path.join(out, f), "utf8")]),
  );
}

describe("a rendered Argo workflow, run pod by pod", () => {
  it("produces the same outputs as dagwright run, and a resubmission reruns nothing", () => {
    const renderDir = makeProject(FILES);
    const r = runCli(
      ["render", "argo", "sim", "--out", "manifests", "--branch", "sim-branch"],
      renderDir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const text = readFileSync(path.join(renderDir, "manifests", "sim.argo.yaml"), "utf8");
    expect(validateArgo({ "sim.argo.yaml": text })).toEqual([]);
    const manifest = parse(text);

    const workflow = `sim-${randomUUID().slice(0, 8)}`;
    const podDir = makeProject(FILES);
    const first = simulate(manifest, podDir, workflow);
    expect(first.length).toBeGreaterThan(5);

    const localDir = makeProject(FILES);
    const local = runCli(["run"], localDir, { HOME: process.env.HOME ?? "/root" });
    expect(local.code).toBe(0);
    // Identical results: user strings such as "{{workflow.name}} $(HOME)" stay data in the pods too.
    const simulated = outputsOf(podDir);
    expect(simulated).toEqual(outputsOf(localDir));
    expect(simulated["NC.txt"]).toBe("NC hello {{workflow.name}} $(HOME)\n");

    const callsAfterFirst = readFileSync(path.join(podDir, "calls.txt"), "utf8");
    expect(callsAfterFirst.trim().split("\n").sort()).toEqual([
      "FL",
      "GA",
      "NC",
      "SC",
      "VA",
      "clean",
      "report",
      "summarize",
    ]);
    // A resubmitted workflow: every pod finds its work fresh in the shared state.
    const second = simulate(manifest, podDir, workflow);
    expect(readFileSync(path.join(podDir, "calls.txt"), "utf8")).toBe(callsAfterFirst);
    expect(second.filter((s) => s.stderr.includes("▶"))).toEqual([]);
  });

  it("keeps hostile item keys data: nothing in them is expanded by Argo or the kubelet", () => {
    const hostile = ["NC", "$(DAGWRIGHT_STATE_URL)", "{{workflow.name}}", "a b;c"];
    const files = {
      "dagwright.yaml": [
        'settings: {docker_image: "dagwright-test:1"}',
        "graphs: {h: {tasks: {keys: , each: keys}}}",
        "tasks:",
        "  keys: {file: keys.py, cache_result: true, iterable_item: key}",
        '  each: {map_over: key, command: [sh, -c, \'printf "%s\\n" "$key" >> calls.txt\']}',
        "",
      ].join("\n"),
      "keys.py": `def keys():\n    return ${JSON.stringify(hostile)}\n`,
    };
    const dir = makeProject(files);
    expect(runCli(["render", "argo", "h", "--out", "m", "--branch", "hostile"], dir).code).toBe(0);
    const manifest = parse(readFileSync(path.join(dir, "m", "h.argo.yaml"), "utf8"));
    const log = simulate(manifest, dir, `h-${randomUUID().slice(0, 8)}`);
    const calls = readFileSync(path.join(dir, "calls.txt"), "utf8").trim().split("\n");
    expect(calls.sort()).toEqual([...hostile].sort());
    for (const { stderr } of log) expect(stderr).not.toContain(pgService.url);
  });
});
