import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, runCli } from "../helpers.js";
import { loadDag } from "./airflow-fixtures.js";
import { runFlow } from "./prefect-harness.js";
import { validateAsl } from "./validate-asl.js";

/** A copy of test/fixtures/kptn-mock (kptn's mock_pipeline layout, a kptn.yaml) to render. */
function fixture(): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-kptn-")), "mock");
  cpSync(path.join(REPO, "test", "fixtures", "kptn-mock"), dir, { recursive: true });
  return dir;
}

describe("rendering a kptn project", () => {
  it("airflow: the DAG of kptn's sample graph loads with kptn's edges", () => {
    const dir = fixture();
    const r = runCli(["render", "airflow", "sample", "--image", "reg/mock:1", "--out", "out"], dir);
    expect(r.code, r.stderr).toBe(0);
    const dag = loadDag(readFileSync(path.join(dir, "out", "sample_dag.py"), "utf8")).dags[0]!;
    expect(dag.edges.sort()).toEqual(
      [
        ["A", "B"],
        ["B", "E"],
        ["C", "D-items"],
        ["D-items", "D"],
        ["D", "E"],
      ].sort(),
    );
    // kptn compute (cpu 256 = 0.25 vCPU, memory 512 MiB) sizes A's pod.
    expect(JSON.stringify(dag.tasks.A!.kwargs.container_resources)).toContain(
      `"cpu":"0.25","memory":"512Mi"`,
    );
  });

  it("prefect: the flow runs the kptn tasks through run-task with the outputs of dagwright run, and reruns nothing", () => {
    const dir = fixture();
    expect(runCli(["render", "prefect", "sample", "--out", "flows"], dir).code).toBe(0);
    const flow = path.join(dir, "flows", "sample_flow.py");
    const first = runFlow(flow, dir);
    expect(first.error).toBeNull();
    expect(first.runs.map((x) => x.task)).toEqual(["A", "B", "C", "D-items", "D", "D", "E"]);
    const local = fixture();
    expect(runCli(["run", "sample"], local).code).toBe(0);
    const out = (root: string) =>
      readFileSync(path.join(root, "scratch", "sample", "E", "E_2024.csv"), "utf8");
    expect(out(dir)).toBe(out(local));
    expect(out(dir)).toBe("ABC1E");
    expect(runFlow(flow, dir).error).toBeNull();
    const dry = runCli(["run", "sample", "--dry-run"], dir);
    expect(dry.stderr, dry.stderr).toMatch(/0 would run, 5 fresh/);
  });
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, asserted field by field
  type State = Record<string, any>;
  /** Every state of a machine by name, those inside Parallel branches too. */
  const statesOf = (m: State, out: Record<string, State> = {}): Record<string, State> => {
    for (const [name, st] of Object.entries(m.States as Record<string, State>)) {
      out[name] = st;
      for (const b of st.Branches ?? []) statesOf(b, out);
    }
    return out;
  };
  const renderSfn = (graph: string) => {
    const dir = fixture();
    const r = runCli(["render", "stepfunctions", graph, "--out", "sfn", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const machine = JSON.parse(readFileSync(path.join(dir, "sfn", `${graph}.asl.json`), "utf8"));
    return { report: JSON.parse(r.stdout), machine, states: statesOf(machine) };
  };

  it("stepfunctions: kptn's sample graph is valid ASL with kptn's edges, no added wait, and kptn's Fargate size", async () => {
    const { report, machine, states } = renderSfn("sample");
    expect(await validateAsl(machine)).toEqual([]);
    // kptn orders by level (E waits for all of A, B, C, D anyway; B and D wait for C and A).
    expect(report).toMatchObject({ addedWaits: [], falseWaits: 0, levelOrderingFalseWaits: 2 });
    const par = machine.States["parallel-1"];
    expect(par.Branches.map((b: State) => b.StartAt)).toEqual(["A", "C"]);
    expect(par.Next).toBe("E");
    expect(states.A!.Next).toBe("B");
    expect(states.C!.Next).toBe("D-items");
    expect(states["D-map"]!.ItemProcessor.ProcessorConfig.Mode).toBe("INLINE");
    expect(states.A!.Parameters.Overrides).toMatchObject({ Cpu: "256", Memory: "512" });
    expect(states.E!.Parameters.Overrides.ContainerOverrides[0].Command).toEqual([
      "dagwright",
      "run-task",
      "--",
      "sample",
      "E",
    ]);
  });

  it.each([
    ["combotest", "combo_process", 2, 2],
    ["bundlegroup_R", "combo_process_bundle_group_R", 3, 2],
  ])(
    "stepfunctions: kptn's %s graph is valid ASL, its bundles and group size as ItemBatcher and MaxConcurrency",
    async (graph, task, bundle, group) => {
      const { machine, states } = renderSfn(graph);
      expect(await validateAsl(machine)).toEqual([]);
      expect(states[`${task}-list`]!.ResultSelector["batches.$"]).toBe(
        `States.ArrayPartition(States.StringToJson($.Body), ${bundle})`,
      );
      expect(states[`${task}-map`]!.MaxConcurrency).toBe(group);
      expect(states[`${task}-map-s3`]!.ItemBatcher.MaxItemsPerBatch).toBe(bundle);
      expect(states[`${task}-map-s3`]!.MaxConcurrency).toBe(group);
    },
  );
});
