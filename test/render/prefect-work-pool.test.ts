import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { makeProject, REPO, runCli } from "../helpers.js";
import { runFlow } from "./prefect-harness.js";

const SPEC = `settings: { name: pool }
graphs:
  g:
    tasks:
      keys:
      each: keys
      total: each
tasks:
  keys:
    file: tasks/keys.py
    cache_result: true
    iterable_item: k
  each:
    command: "echo $k > out/$k.txt"
    map_over: k
    outputs: ["out/\${k}.txt"]
    compute: { cpu: 2, memory: 4096 }
  total:
    command: [sh, -c, "cat out/a.txt out/b.txt > out/total.txt"]
    compute: { cpu: 0.5, memory: 1024 }
    outputs: [out/total.txt]
`;
const FILES = {
  "dagwright.yaml": SPEC,
  "tasks/keys.py":
    "import os\n\ndef keys():\n    os.makedirs('out', exist_ok=True)\n    return ['a', 'b']\n",
};

describe("render prefect --infra work-pool", () => {
  it("runs each unit as a run of the run-task deployment sized by its compute, with a prefect.yaml that deploys both", () => {
    const dir = makeProject(FILES);
    const r = runCli(
      [
        "render",
        "prefect",
        "--infra",
        "work-pool",
        "--work-pool",
        "ecs-pool",
        "--image",
        "reg/pool:1",
        "--out",
        ".",
      ],
      dir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const deploy = parse(readFileSync(path.join(dir, "prefect.yaml"), "utf8"));
    expect(deploy["prefect-version"]).toBe("3.0.0");
    expect(
      deploy.deployments.map((d: { name: string; entrypoint: string }) => [d.name, d.entrypoint]),
    ).toEqual([
      ["g-run-task", "g_flow.py:dagwright_run_task"],
      ["g", "g_flow.py:dagwright_flow"],
    ]);
    for (const d of deploy.deployments)
      expect(d.work_pool).toEqual({ name: "ecs-pool", job_variables: { image: "reg/pool:1" } });

    const flow = runFlow(path.join(dir, "g_flow.py"), dir);
    expect(flow.error).toBeNull();
    // Listing runs in the flow; every unit runs through the deployment, in its own container size.
    // The two items run at once: their calls are compared in key order.
    const calls = flow.deployment_runs.map((d) => [
      d.flow_run_name,
      d.job_variables,
      d.parameters.args,
    ]);
    calls.splice(1, 2, ...calls.slice(1, 3).sort((x, y) => (`${x[2]}` < `${y[2]}` ? -1 : 1)));
    expect(calls).toEqual([
      ["keys", {}, ["run-task", "--", "g", "keys"]],
      ["each", { cpu: 2048, memory: 4096 }, ["run-task", "--item-b64=YQ", "--", "g", "each"]],
      ["each", { cpu: 2048, memory: 4096 }, ["run-task", "--item-b64=Yg", "--", "g", "each"]],
      ["total", { cpu: 512, memory: 1024 }, ["run-task", "--", "g", "total"]],
    ]);
    // One run id for the whole flow, whichever container runs a unit.
    expect(new Set(flow.deployment_runs.map((d) => d.parameters.env.DAGWRIGHT_RUN_ID)).size).toBe(
      1,
    );
    expect(readFileSync(path.join(dir, "out", "total.txt"), "utf8")).toBe("a\nb\n");
    const local = makeProject(FILES);
    expect(runCli(["run"], local).code).toBe(0);
    expect(readFileSync(path.join(local, "out", "total.txt"), "utf8")).toBe("a\nb\n");
    // A second flow run reruns nothing: run-task finds every unit fresh.
    const again = runCli(["status", "--json"], dir);
    expect(again.code).toBe(0);
    expect(runFlow(path.join(dir, "g_flow.py"), dir).error).toBeNull();
    const dry = runCli(["run", "--dry-run"], dir).stderr;
    expect(dry, dry).toMatch(/0 would run|nothing to run|3 fresh/);
  });

  it("writes prefect.yaml for Prefect 2 with --prefect 2", () => {
    const dir = makeProject(FILES);
    const r = runCli(
      [
        "render",
        "prefect",
        "--infra",
        "work-pool",
        "--work-pool",
        "p",
        "--image",
        "i",
        "--prefect",
        "2",
        "--out",
        ".",
      ],
      dir,
    );
    expect(r.code).toBe(0);
    expect(parse(readFileSync(path.join(dir, "prefect.yaml"), "utf8"))["prefect-version"]).toBe(
      "2.20.0",
    );
  });

  it("needs a work pool and an image", () => {
    const dir = makeProject(FILES);
    const r = runCli(["render", "prefect", "--infra", "work-pool", "--out", "."], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--infra work-pool needs a work pool");
    expect(r.stderr).toContain("hint: pass --work-pool NAME, or set config.prefect.work_pool");
    expect(r.stderr).toContain("no container image for the Prefect deployment");
  });

  it("refuses a Prefect placeholder in a value of prefect.yaml, naming the field (exit 2)", () => {
    const dir = makeProject(FILES);
    const args = ["render", "prefect", "--infra", "work-pool", "--work-pool", "p", "--out", "."];
    const r = runCli([...args, "--image", "reg/{{ $IMAGE }}:1"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'error: the image (--image, config.image or settings.docker_image): "reg/{{ $IMAGE }}:1" contains "{{"',
    );
    expect(r.stderr).toContain("hint: Prefect has no escape for {{ there");
  });

  it("renders the ECS example of docs/render-prefect.md byte for byte (goldens pool.prefect.py, pool.prefect.yaml)", () => {
    const spec = SPEC.replace(
      "settings: { name: pool }",
      `settings: { name: pool, docker_image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/pool:1" }
config:
  prefect:
    work_pool: ecs-pool
    working_dir: /app
    job_variables: { cluster: dagwright, vpc_id: vpc-0abc }`,
    );
    const dir = makeProject({ ...FILES, "dagwright.yaml": spec });
    const r = runCli(
      [
        "render",
        "prefect",
        "--infra",
        "work-pool",
        "--state-secret",
        "dagwright-state",
        "--out",
        ".",
      ],
      dir,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const goldens = path.join(REPO, "test", "render", "golden");
    for (const [file, golden] of [
      ["g_flow.py", "pool.prefect.py"],
      ["prefect.yaml", "pool.prefect.yaml"],
    ] as const) {
      const text = readFileSync(path.join(dir, file), "utf8");
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(path.join(goldens, golden), text);
      expect(text, "run with UPDATE_GOLDEN=1 after review").toBe(
        readFileSync(path.join(goldens, golden), "utf8"),
      );
    }
  });
});
