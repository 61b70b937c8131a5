import { spawnSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BIN, makeProject, runCli } from "../helpers.js";
import { localStepFunctions, validateAsl } from "./validate-asl.js";

/**
 * Executes rendered state machines with aws-local-stepfunctions: every Task state runs the
 * command its Parameters carry (ECS `ContainerOverrides`), with its `Environment`, in a copy of
 * the project, through the built CLI. `aws s3 cp` (the listing step) and the `s3:getObject`
 * states read and write a local directory standing in for the artifact bucket.
 */

const SPEC = `graphs:
  g:
    tasks:
      regions:
      a:
      fetch: regions
      c: [a, fetch]
      d: fetch
tasks:
  regions: {file: tasks/regions.py, cache_result: true, iterable_item: region}
  a:
    command: "echo a >> runs.log; mkdir -p out; echo A > out/a.txt"
    outputs: [out/a.txt]
  fetch:
    command: "echo fetch $region >> runs.log; mkdir -p out; echo $region > out/fetch-$region.txt"
    map_over: region
    bundle_size: 2
    group_size: 2
    outputs: ["out/fetch-\${region}.txt"]
  c:
    command: "echo c >> runs.log; cat out/a.txt out/fetch-east.txt out/fetch-north.txt out/fetch-south.txt > out/c.txt"
    outputs: [out/c.txt]
    retries: 1
  d:
    command: "echo d >> runs.log; cat out/fetch-*.txt > out/d.txt"
    outputs: [out/d.txt]
`;

const FILES = {
  "dagwright.yaml": SPEC,
  "tasks/regions.py": 'def regions():\n    return ["north", "south", "east"]\n',
};

type Json = Record<string, unknown>;
interface Call {
  state: string;
  attempt: number;
  start: number;
  end: number;
}

/** `dagwright` and a fake `aws` on PATH, the bucket as a directory. */
function sandbox(): { bin: string; bucket: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), "dagwright-sfn-"));
  const bin = path.join(root, "bin");
  const bucket = path.join(root, "bucket");
  mkdirSync(bin);
  mkdirSync(bucket);
  writeFileSync(
    path.join(bin, "dagwright"),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`,
  );
  // aws s3 cp [--only-show-errors] FILE s3://BUCKET/KEY
  writeFileSync(
    path.join(bin, "aws"),
    `#!/bin/sh\nset -eu\n[ "$1 $2" = "s3 cp" ] || exit 9\nshift 2\n[ "$1" = --only-show-errors ] && shift\nkey=\${2#s3://*/}\nmkdir -p "$(dirname "${bucket}/$key")"\ncp "$1" "${bucket}/$key"\n`,
  );
  chmodSync(path.join(bin, "dagwright"), 0o755);
  chmodSync(path.join(bin, "aws"), 0o755);
  return { bin, bucket };
}

/** Every Task state of a definition (nested ones too). */
function taskStates(def: Json): string[] {
  const out: string[] = [];
  const walk = (m: Json) => {
    for (const [name, s] of Object.entries(m.States as Record<string, Json>)) {
      if (s.Type === "Task") out.push(name);
      if (s.ItemProcessor) walk(s.ItemProcessor as Json);
      for (const b of (s.Branches as Json[] | undefined) ?? []) walk(b);
    }
  };
  walk(def);
  return out;
}

/** Runs the machine once; `fail` makes the first attempt of that state throw. */
async function execute(
  def: Json,
  project: string,
  box: { bin: string; bucket: string },
  name: string,
  fail?: string,
): Promise<{ calls: Call[]; entered: string[]; exited: Map<string, unknown>; error?: unknown }> {
  const { StateMachine } = await localStepFunctions();
  const calls: Call[] = [];
  const attempts = new Map<string, number>();
  let clock = 0;
  const handler = (state: string) => async (input: Json) => {
    const key = `${state}:${JSON.stringify(input)}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const call: Call = { state, attempt, start: ++clock, end: 0 };
    calls.push(call);
    if (state === fail && attempt === 1)
      throw Object.assign(new Error("injected"), { name: "States.TaskFailed" });
    if ("Bucket" in input) {
      const body = readFileSync(path.join(box.bucket, input.Key as string), "utf8");
      call.end = ++clock;
      return { Body: body };
    }
    const container = ((input.Overrides as Json).ContainerOverrides as Json[])[0]!;
    const env: Record<string, string> = {};
    for (const e of container.Environment as { Name: string; Value: string }[])
      env[e.Name] = e.Value;
    const [cmd, ...args] = container.Command as string[];
    const r = spawnSync(cmd!, args, {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, PATH: `${box.bin}:${process.env.PATH}`, NO_COLOR: "1", ...env },
    });
    call.end = ++clock;
    if (r.status !== 0)
      throw Object.assign(new Error(`${state}: exit ${r.status}\n${r.stdout}${r.stderr}`), {
        name: "States.TaskFailed",
      });
    return {};
  };
  const tasks = taskStates(def);
  const sm = new StateMachine(def as never, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const exec = sm.run(
    JSON.parse(readFileSync(path.join(project, "sfn", "g.params.json"), "utf8")),
    {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(tasks.map((t) => [t, handler(t)])),
        retryIntervalOverrides: Object.fromEntries(tasks.map((t) => [t, 0])),
      },
      context: { Execution: { Name: name } },
    } as never,
  );
  const entered: string[] = [];
  const exited = new Map<string, unknown>(); // each state's last output
  const log = (async () => {
    for await (const event of exec.eventLogs) {
      if (event.type === "StateEntered") entered.push(event.state.name);
      if (event.type === "StateExited") exited.set(event.state.name, event.state.output);
    }
  })();
  try {
    await exec.result;
    await log;
    return { calls, entered, exited };
  } catch (error) {
    return { calls, entered, exited, error };
  } finally {
    await log.catch(() => undefined);
  }
}

function outputs(dir: string): Record<string, string> {
  const out = path.join(dir, "out");
  return Object.fromEntries(
    readdirSync(out)
      .sort()
      .map((f) => [f, readFileSync(path.join(out, f), "utf8")]),
  );
}

/** First start and last end of each unit's calls (a fan-out: its listing to its last item). */
function spans(calls: Call[]): Map<string, { start: number; end: number }> {
  const unitOf = (state: string) => state.replace(/-(items|count|list)$/, "");
  const out = new Map<string, { start: number; end: number }>();
  for (const c of calls) {
    const u = unitOf(c.state);
    const s = out.get(u);
    out.set(u, {
      start: Math.min(s?.start ?? c.start, c.start),
      end: Math.max(s?.end ?? 0, c.end),
    });
  }
  return out;
}

describe("render stepfunctions: the machine executes like dagwright run", () => {
  let reference: Record<string, string>;
  beforeAll(() => {
    const dir = makeProject(FILES);
    const r = runCli(["run", "g"], dir);
    expect(r.code, r.stderr).toBe(0);
    reference = outputs(dir);
  });

  const rendered = () => {
    const project = makeProject(FILES);
    const r = runCli(["render", "stepfunctions", "g", "--out", "sfn"], project);
    expect(r.code, r.stderr).toBe(0);
    const def = JSON.parse(readFileSync(path.join(project, "sfn", "g.asl.json"), "utf8")) as Json;
    return { project, def };
  };

  it("produces dagwright run's outputs, in an order respecting every dependency, and reruns nothing the second time", async () => {
    const { project, def } = rendered();
    expect(await validateAsl(def)).toEqual([]);
    const box = sandbox();
    const first = await execute(def, project, box, "exec-1");
    expect(first.error).toBeUndefined();
    expect(outputs(project)).toEqual(reference);

    const span = spans(first.calls);
    const deps: Record<string, string[]> = {
      fetch: ["regions"],
      c: ["a", "fetch"],
      d: ["fetch"],
    };
    for (const [unit, ds] of Object.entries(deps))
      for (const d of ds)
        expect(span.get(unit)!.start, `${unit} after ${d}`).toBeGreaterThan(span.get(d)!.end);
    // 3 items in bundles of 2: two item calls.
    expect(first.calls.filter((c) => c.state === "fetch")).toHaveLength(2);

    const log = readFileSync(path.join(project, "runs.log"), "utf8");
    expect(log.split("\n").sort().join(" ").trim()).toBe(
      "a c d fetch east fetch north fetch south",
    );
    const second = await execute(def, project, box, "exec-2");
    expect(second.error).toBeUndefined();
    expect(readFileSync(path.join(project, "runs.log"), "utf8")).toBe(log);
    expect(outputs(project)).toEqual(reference);
  });

  it("reruns only the failed item of a fan-out when a new execution follows a failed one", async () => {
    const project = makeProject({
      ...FILES,
      "dagwright.yaml": SPEC.replace(
        'command: "echo fetch $region >> runs.log;',
        'command: "if [ $region = south ] && [ ! -f failed-once ]; then touch failed-once; exit 1; fi; echo fetch $region >> runs.log;',
      ),
    });
    expect(runCli(["render", "stepfunctions", "g", "--out", "sfn"], project).code).toBe(0);
    const def = JSON.parse(readFileSync(path.join(project, "sfn", "g.asl.json"), "utf8")) as Json;
    const box = sandbox();
    const first = await execute(def, project, box, "exec-1");
    expect(first.error).toBeDefined();
    const before = readFileSync(path.join(project, "runs.log"), "utf8").split("\n");
    expect(before).toContain("fetch north");
    expect(before).not.toContain("fetch south");

    const second = await execute(def, project, box, "exec-2");
    expect(second.error).toBeUndefined();
    const added = readFileSync(path.join(project, "runs.log"), "utf8")
      .split("\n")
      .slice(before.length - 1);
    expect(added.filter((l) => l.startsWith("fetch"))).toEqual(["fetch south"]);
    expect(outputs(project)).toEqual(reference);
  });

  it("sends a few items with long keys to the Distributed Map: the inline Map would carry over 256 KiB", async () => {
    // Three items whose base64url keys make a list of about 320 KB, far below --inline-map-max.
    const project = makeProject({
      ...FILES,
      "tasks/regions.py": 'def regions():\n    return ["n" * 80000, "s" * 80000, "e" * 80000]\n',
    });
    const r = runCli(["render", "stepfunctions", "g", "--out", "sfn"], project);
    expect(r.code, r.stderr).toBe(0);
    const def = JSON.parse(readFileSync(path.join(project, "sfn", "g.asl.json"), "utf8")) as Json;
    const box = sandbox();
    const result = await execute(def, project, box, "exec-bytes");
    const [run] = readdirSync(path.join(box.bucket, "dagwright-items"));
    const listed = (ext: string) =>
      readFileSync(path.join(box.bucket, "dagwright-items", run!, `fetch-items${ext}`), "utf8");
    const size = JSON.parse(listed(".count.json"));
    expect(size.count).toBe(3);
    // The list as getObject's Body carries it: a JSON string, each quote escaped.
    const list = listed(".json");
    expect(size.bytes).toBe(list.length + list.split('"').length - 1);
    expect(size.bytes).toBeGreaterThan(200 * 1024);
    expect(result.entered).toContain("fetch-route");
    expect(result.entered).toContain("fetch-map-s3");
    expect(result.entered).not.toContain("fetch-list");
    // The local executor cannot read the Distributed Map's ItemReader (see docs): no item ran.
    expect(result.calls.filter((c) => c.state === "fetch")).toEqual([]);
  });

  it("sends a short list to the inline Map", async () => {
    const { project, def } = rendered();
    const result = await execute(def, project, sandbox(), "exec-inline");
    expect(result.error).toBeUndefined();
    expect(result.entered).toContain("fetch-list");
    expect(result.entered).toContain("fetch-map");
    expect(result.entered).not.toContain("fetch-map-s3");
    // The key list read for the inline Map is dropped as it ends (it must not travel on).
    expect(JSON.stringify(result.exited.get("fetch-list"))).toContain("batches");
    expect(JSON.stringify(result.exited.get("fetch-map"))).not.toContain("batches");
  });

  it("retries a state whose first attempt fails, then succeeds", async () => {
    const { project, def } = rendered();
    const result = await execute(def, project, sandbox(), "exec-retry", "c");
    expect(result.error).toBeUndefined();
    expect(result.calls.filter((c) => c.state === "c").map((c) => c.attempt)).toEqual([1, 2]);
    expect(outputs(project)).toEqual(reference);
  });

  it("fails the execution into the task's Fail state when a task keeps failing", async () => {
    const { project, def } = rendered();
    writeFileSync(
      path.join(project, "dagwright.yaml"),
      SPEC.replace('command: "echo d >> runs.log;', 'command: "exit 3;'),
    );
    const result = await execute(def, project, sandbox(), "exec-fail");
    const cause =
      (result.error as { cause?: { message?: string } })?.cause?.message ?? String(result.error);
    expect(cause).toBe('task "d" failed');
  });
});
