import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, runCli } from "../helpers.js";
import { loadDag } from "./airflow-fixtures.js";
import { runFlow } from "./prefect-harness.js";

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
});
