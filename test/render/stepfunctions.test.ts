import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Graph } from "../../src/graph/graph.js";
import { isSafeStateName } from "../../src/render/asl-names.js";
import { fargateSize } from "../../src/render/fargate-size.js";
import { renderStepFunctions, type StepFunctionsOptions } from "../../src/render/stepfunctions.js";
import { SpecError } from "../../src/spec/errors.js";
import type { TaskSpec } from "../../src/spec/types.js";
import { makeProject, REPO, runCli } from "../helpers.js";
import { expectGolden, graphOf, specFor } from "./fixtures.js";
import { validateAsl } from "./validate-asl.js";

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, asserted field by field
type Json = Record<string, any>;

function render(graph: Graph, options: StepFunctionsOptions = {}, config: Json = {}) {
  const result = renderStepFunctions({ spec: specFor(graph), graph, config, options });
  const machine = JSON.parse(result.files[`${graph.name}.asl.json`]!) as Json;
  const params = JSON.parse(result.files[`${graph.name}.params.json`]!) as Json;
  return { result, machine, params };
}

/** Every state of a machine by name, nested ones included. */
function allStates(m: Json): Record<string, Json> {
  const out: Record<string, Json> = {};
  const walk = (x: Json) => {
    for (const [name, s] of Object.entries(x.States as Record<string, Json>)) {
      out[name] = s;
      if (s.ItemProcessor) walk(s.ItemProcessor);
      for (const b of s.Branches ?? []) walk(b);
    }
  };
  walk(m);
  return out;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof SpecError) return e.diagnostics.map((d) => `${d.severity}: ${d.message}`);
    throw e;
  }
  return [];
}

const task = (over: Partial<TaskSpec>) => over;

describe("render stepfunctions: dependencies", () => {
  it("warns that D also waits for A on the N shape, and reports it under --json", () => {
    const { result, machine } = render(graphOf("n", { A: [], B: [], C: ["A", "B"], D: ["B"] }));
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toContain(
      "D also waits for A: Step Functions cannot express this graph exactly",
    );
    expect(result.report).toEqual({
      addedWaits: [{ task: "D", waitsFor: "A" }],
      falseWaits: 1,
      levelOrderingFalseWaits: 1,
    });
    expect(machine.States["parallel-1"].Type).toBe("Parallel");
  });

  it("prints the first 20 added waits and counts the rest, which --json lists", () => {
    // Crown: b_i depends on every a_j but a_i, so b_i also waits for a_i.
    const n = 25;
    const adjacency: Record<string, string[]> = {};
    for (let i = 0; i < n; i++) adjacency[`a${i}`] = [];
    for (let i = 0; i < n; i++)
      adjacency[`b${i}`] = Array.from({ length: n }, (_, j) => `a${j}`).filter(
        (a) => a !== `a${i}`,
      );
    const { result } = render(graphOf("crown", adjacency));
    expect(result.warnings).toHaveLength(21);
    expect(result.warnings[20]).toBe(
      "graphs.crown: … and 5 more added waits (--json lists them all)",
    );
    expect(result.report!.addedWaits).toHaveLength(25);
    // On the terminal: one line per wait, the hint once, and the count.
    const dir = makeProject({
      "dagwright.yaml": `graphs:\n  crown:\n    tasks:\n${Object.entries(adjacency)
        .map(([t, ds]) => `      ${t}: [${ds.join(", ")}]\n`)
        .join("")}tasks:\n${Object.keys(adjacency)
        .map((t) => `  ${t}: {command: "true"}\n`)
        .join("")}`,
    });
    const cli = runCli(["render", "stepfunctions", "crown", "--image", "i:1", "--out", "o"], dir);
    expect(cli.code, cli.stderr).toBe(0);
    const lines = cli.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(22);
    expect(lines.filter((l) => l.includes("also waits for"))).toHaveLength(20);
    expect(lines.at(-1)).toBe(
      "warning: graphs.crown: … and 5 more added waits (--json lists them all)",
    );
    const json = runCli(
      ["render", "stepfunctions", "crown", "--image", "i:1", "--out", "o", "--json"],
      dir,
    );
    expect(JSON.parse(json.stdout).addedWaits).toHaveLength(25);
  });

  it("renders a diamond exactly: the two middle tasks in parallel, no warning", () => {
    const { result, machine } = render(graphOf("d", { a: [], b: ["a"], c: ["a"], e: ["b", "c"] }));
    expect(result.warnings).toEqual([]);
    expect(machine.StartAt).toBe("dagwright-run");
    expect(machine.States["dagwright-run"]).toEqual({
      Type: "Pass",
      Parameters: { "run.$": "States.UUID()" },
      ResultPath: "$.dagwright",
      Next: "a",
    });
    expect(machine.States.a.Next).toBe("parallel-1");
    expect(machine.States["parallel-1"].Branches.map((b: Json) => b.StartAt)).toEqual(["b", "c"]);
    expect(machine.States["parallel-1"].Next).toBe("e");
    expect(machine.States.e.End).toBe(true);
  });

  it("does not make a long chain wait for an unrelated short one (no level ordering)", () => {
    const { result } = render(graphOf("c", { a1: [], a2: ["a1"], a3: ["a2"], b1: [], b2: ["b1"] }));
    expect(result.report).toMatchObject({ falseWaits: 0, levelOrderingFalseWaits: 4 });
  });
});

describe("render stepfunctions: tasks", () => {
  it("runs each unit as an ECS Fargate task with run-task, sized up to a valid Fargate pair", () => {
    const { machine } = render(
      graphOf("g", { a: [] }, { a: task({ compute: { cpu: 0.3, memoryMiB: 600 } }) }),
    );
    const a = machine.States.a;
    expect(a.Resource).toBe("arn:aws:states:::ecs:runTask.sync");
    expect(a.Parameters.LaunchType).toBe("FARGATE");
    expect(a.Parameters["Cluster.$"]).toBe("$$.Execution.Input.cluster");
    expect(a.Parameters.Overrides.Cpu).toBe("512");
    expect(a.Parameters.Overrides.Memory).toBe("1024");
    expect(a.Parameters.Overrides.ContainerOverrides[0].Command).toEqual([
      "dagwright",
      "run-task",
      "--",
      "g",
      "a",
    ]);
  });

  it("rounds sizes up to the next valid Fargate pair", () => {
    expect(fargateSize(undefined, 100)).toEqual({ cpu: 256, memoryMiB: 512 });
    expect(fargateSize(0.25, 1500)).toEqual({ cpu: 256, memoryMiB: 2048 });
    expect(fargateSize(0.25, 3000)).toEqual({ cpu: 512, memoryMiB: 3072 });
    expect(fargateSize(1, undefined)).toEqual({ cpu: 1024, memoryMiB: 2048 });
    expect(fargateSize(5, 8192)).toEqual({ cpu: 8192, memoryMiB: 16384 });
    expect(fargateSize(8, 70000)).toEqual({ cpu: 16384, memoryMiB: 73728 });
    expect(fargateSize(16, 122880)).toEqual({ cpu: 16384, memoryMiB: 122880 });
    expect(fargateSize(17, 1024)).toBeUndefined();
    expect(fargateSize(1, 130000)).toBeUndefined();
  });

  it("refuses a size past the largest Fargate task with exit 2, naming the task and the way out", () => {
    const dir = makeProject({
      "dagwright.yaml": [
        "graphs: {g: {tasks: {big: }}}",
        "tasks:",
        '  big: {command: ["true"], compute: {cpu: 32, memory: 4096}}',
        "",
      ].join("\n"),
    });
    const r = runCli(["render", "stepfunctions", "--out", "sfn"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'dagwright.yaml:3:3 tasks.big.compute: task "big" asks for 32 vCPU and 4096 MiB, more than the largest Fargate size (16 vCPU, 120 GiB)',
    );
    expect(r.stderr).toContain("render with --launch ec2 or --launch batch");
    expect(runCli(["render", "stepfunctions", "--launch", "batch", "--out", "sfn"], dir).code).toBe(
      0,
    );
  });

  it("submits Batch jobs with vCPU, memory and GPU requirements and a Batch params file", () => {
    const { machine, params } = render(
      graphOf("g", { a: [] }, { a: task({ compute: { cpu: 1.5, memoryMiB: 3000, gpu: 1 } }) }),
      { launch: "batch" },
    );
    const a = machine.States.a;
    expect(a.Resource).toBe("arn:aws:states:::batch:submitJob.sync");
    expect(a.Parameters["JobQueue.$"]).toBe("$$.Execution.Input.job_queue");
    expect(a.Parameters.ContainerOverrides.ResourceRequirements).toEqual([
      { Type: "VCPU", Value: "2" },
      { Type: "MEMORY", Value: "3000" },
      { Type: "GPU", Value: "1" },
    ]);
    expect(Object.keys(params)).toEqual([
      "job_queue",
      "job_definition",
      "artifact_bucket",
      "container",
    ]);
    const odd = render(graphOf("g", { "-x.y": [] }), { launch: "batch" }).machine;
    expect(odd.States["-x.y"].Parameters.JobName).toBe("j-x_y");
  });

  it("refuses a GPU on Fargate", () => {
    expect(
      problems(() => render(graphOf("g", { a: [] }, { a: task({ compute: { gpu: 1 } }) }))),
    ).toEqual([
      'error: task "a" uses a GPU (Fargate has none), which render stepfunctions cannot express',
    ]);
  });

  it("maps retries to Retry with backoff, timeout to TimeoutSeconds and failure to a Fail state naming the task", () => {
    const { machine } = render(
      graphOf("g", { a: [] }, { a: task({ retries: 3, timeoutSeconds: 90.5 }) }),
    );
    const a = machine.States.a;
    expect(a.Retry).toEqual([
      { ErrorEquals: ["States.ALL"], IntervalSeconds: 10, MaxAttempts: 3, BackoffRate: 2 },
    ]);
    expect(a.TimeoutSeconds).toBe(91);
    expect(a.Catch[0].Next).toBe("a-failed");
    expect(machine.States["a-failed"]).toEqual({
      Type: "Fail",
      Error: "dagwright.TaskFailed",
      Cause: 'task "a" failed',
    });
  });

  it("puts secrets in the params file as ARNs for the task definition, never in the machine", () => {
    const { machine, params } = render(
      graphOf(
        "g",
        { a: [] },
        { a: task({ secrets: [{ env: "API_KEY", name: "vendor", key: "token" }] }) },
      ),
    );
    expect(JSON.stringify(machine)).not.toContain("vendor");
    expect(params.container.secrets).toEqual([
      {
        name: "DAGWRIGHT_STATE_URL",
        valueFrom: "arn:aws:secretsmanager:<region>:<account>:secret:dagwright-state:url::",
      },
      {
        name: "API_KEY",
        valueFrom: "arn:aws:secretsmanager:<region>:<account>:secret:vendor:token::",
      },
    ]);
  });

  it("refuses two units reading one variable from different secrets (they share a task definition)", () => {
    const s = (name: string) => task({ secrets: [{ env: "K", name, key: "k" }] });
    expect(
      problems(() => render(graphOf("g", { a: [], b: [] }, { a: s("one"), b: s("two") }))),
    ).toEqual([
      'error: task "b" uses K from secret two/k while "a" reads it from one/k, which render stepfunctions cannot express',
    ]);
  });

  it("gives distinct, safe state names to names that collide or are too long", () => {
    const long = "x".repeat(120);
    const { machine } = render(graphOf("g", { "a b": [], "a-b": [], [long]: [], "é$.": [] }));
    const names = Object.keys(allStates(machine));
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(isSafeStateName(n), n).toBe(true);
    expect(names).toContain("a-b");
  });
});

describe("render stepfunctions: fan-out", () => {
  const fan = () =>
    graphOf(
      "f",
      { list: [], each: ["list"] },
      {
        list: task({ cacheResult: true, iterableItem: ["item"] }),
        each: task({ mapOver: ["item"], bundleSize: 3, groupSize: 4 }),
      },
    );

  it("lists keys to S3, then an inline Map over bundles or a Distributed Map with ItemReader and ItemBatcher", () => {
    const { machine } = render(fan(), { inlineMapMax: 50 });
    const s = machine.States;
    expect(s["each-items"].Parameters.Overrides.ContainerOverrides[0].Command.slice(3)).toEqual([
      "dagwright",
      "run-task",
      "--list-items",
      "--b64",
      "--",
      "f",
      "each",
    ]);
    expect(s["each-count"].ResultSelector).toEqual({ "size.$": "States.StringToJson($.Body)" });
    expect(s["each-route"].Choices[0]).toEqual({
      Or: [
        { Variable: "$.dagwright_items.size.count", NumericGreaterThan: 50 },
        { Variable: "$.dagwright_items.size.bytes", NumericGreaterThan: 200 * 1024 },
      ],
      Next: "each-map-s3",
    });
    expect(s["each-list"].Resource).toBe("arn:aws:states:::aws-sdk:s3:getObject");
    expect(s["each-list"].ResultSelector["batches.$"]).toBe(
      "States.ArrayPartition(States.StringToJson($.Body), 3)",
    );
    expect(s["each-map"].MaxConcurrency).toBe(4);
    expect(s["each-map"].ItemProcessor.ProcessorConfig.Mode).toBe("INLINE");
    expect(s["each-map-s3"].ItemReader.Resource).toBe("arn:aws:states:::s3:getObject");
    expect(s["each-map-s3"].ItemBatcher.MaxItemsPerBatch).toBe(3);
    expect(s["each-map-s3"].MaxConcurrency).toBe(4);
    expect(s["each-map-s3"].ItemProcessor.ProcessorConfig.Mode).toBe("DISTRIBUTED");
    expect(s["each-map-s3"].ResultWriter.Resource).toBe("arn:aws:states:::s3:putObject");
    const item = s["each-map"].ItemProcessor.States.each.Parameters.Overrides.ContainerOverrides[0];
    expect(item.Command[0]).toBe("sh");
    expect(item.Command[2]).toContain('set -- "--item-b64=$k" "$@"');
    expect(item.Command.slice(3)).toEqual(["dagwright", "--", "f", "each"]);
  });

  it("renders valid ASL for every launch type", async () => {
    for (const launch of ["fargate", "ec2", "batch"] as const)
      expect(await validateAsl(render(fan(), { launch }).machine), launch).toEqual([]);
  });
});

describe("render stepfunctions: examples, kptn fixture, goldens", () => {
  const examples: [string, string, string[]][] = [
    ["quickstart", "sales", []],
    ["airflow", "daily", ["--launch", "batch"]],
    ["argo", "daily", ["--launch", "ec2"]],
  ];
  it.each(examples)(
    "renders examples/%s (%s) as valid ASL, byte-identical twice",
    async (ex, graph, flags) => {
      const cwd = path.join(REPO, "examples", ex);
      const out = makeProject({});
      const outputs = [1, 2].map((n) => {
        const r = runCli(
          ["render", "stepfunctions", graph, ...flags, "--out", path.join(out, String(n))],
          cwd,
        );
        expect(r.code, r.stderr).toBe(0);
        return readFileSync(path.join(out, String(n), `${graph}.asl.json`), "utf8");
      });
      expect(outputs[1]).toBe(outputs[0]);
      expect(await validateAsl(JSON.parse(outputs[0]!))).toEqual([]);
      expect(
        JSON.parse(readFileSync(path.join(out, "1", `${graph}.params.json`), "utf8")),
      ).toHaveProperty("artifact_bucket");
      expectGolden(`${graph}-${ex}.asl.json`, outputs[0]!);
    },
  );

  it("renders the N shape with a fan-out (nfan.asl.json): D, mapped over B's list, also waits for A", async () => {
    const { result, machine } = render(
      graphOf(
        "nfan",
        { A: [], B: [], C: ["A", "B"], D: ["B"] },
        {
          B: task({ cacheResult: true, iterableItem: ["region"] }),
          D: task({ mapOver: ["region"], bundleSize: 2, groupSize: 3, retries: 1 }),
        },
      ),
    );
    expect(result.report!.addedWaits).toEqual([{ task: "D", waitsFor: "A" }]);
    expect(machine.States["parallel-1"].Next).toBe("parallel-2");
    expect(
      machine.States["parallel-2"].Branches.map((b: Json) => Object.keys(b.States)[0]),
    ).toEqual(["C", "D-items"]);
    expect(await validateAsl(machine)).toEqual([]);
    expectGolden("nfan.asl.json", result.files["nfan.asl.json"]!);
  });

  it("renders a kptn-style project (Fargate cpu units, fan-out over a cached list) as valid ASL", async () => {
    const dir = makeProject({
      "kptn.yaml": `settings: {flows_dir: flows, flow_type: vanilla, py_tasks_dir: py_tasks}
graphs:
  sample:
    tasks:
      A:
      B: A
      C:
      D: C
      E: [B, D]
tasks:
  A: {file: py_tasks/A.py}
  B: {file: py_tasks/B.py}
  C: {file: py_tasks/C.py, cache_result: true, iterable_item: C_VAL, compute: {cpu: 256, memory: 512}}
  D: {file: py_tasks/D.py, map_over: C_VAL}
  E: {file: py_tasks/E.py, compute: {cpu: 2048, memory: 8192}}
`,
      ...Object.fromEntries(
        ["A", "B", "C", "D", "E"].map((t) => [`py_tasks/${t}.py`, `def ${t}():\n    pass\n`]),
      ),
    });
    const r = runCli(["render", "stepfunctions", "sample", "--out", "sfn", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ addedWaits: [], falseWaits: 0 });
    const machine = JSON.parse(readFileSync(path.join(dir, "sfn", "sample.asl.json"), "utf8"));
    expect(await validateAsl(machine)).toEqual([]);
    const states = allStates(machine);
    expect(states.C!.Parameters.Overrides).toMatchObject({ Cpu: "256", Memory: "512" });
    expect(states.E!.Parameters.Overrides).toMatchObject({ Cpu: "2048", Memory: "8192" });
    expect(states["D-map"]).toBeDefined();
  });
});
