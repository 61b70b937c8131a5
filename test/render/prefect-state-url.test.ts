import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";
import { binDir, runFlow } from "./prefect-harness.js";

const FILES = {
  "dagwright.yaml": `settings: { name: pool }
graphs:
  g:
    tasks:
      keys:
      each: keys
      total: each
tasks:
  keys: { file: tasks/keys.py, cache_result: true, iterable_item: k }
  each: { command: [echo, each], map_over: k, compute: { cpu: 1, memory: 512 } }
  total: { command: [echo, total] }
`,
  "tasks/keys.py": "def keys():\n    return ['a', 'b']\n",
};
const URL = "postgresql://dagwright:s3cr3t@db.internal:5432/state";
const RENDER = ["render", "prefect", "--infra", "work-pool", "--work-pool", "ecs", "--image", "i"];

/** A fake dagwright recording its argv and DAGWRIGHT_STATE_URL; it lists two keys. */
function recorder(): { bin: string; calls: () => { argv: string[]; url: string | null }[] } {
  const log = path.join(mkdtempSync(path.join(os.tmpdir(), "dagwright-url-")), "calls.jsonl");
  const bin = binDir(
    `import json, os, sys\nwith open(${JSON.stringify(log)}, "a") as f:\n    f.write(json.dumps({"argv": sys.argv[1:], "url": os.environ.get("DAGWRIGHT_STATE_URL")}) + "\\n")\nif "--list-items" in sys.argv: print('["a", "b"]')\n`,
  );
  const calls = () =>
    readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { argv: string[]; url: string | null });
  return { bin, calls };
}

describe("render prefect --state-secret BLOCK", () => {
  it("gives every dagwright run the state URL from the Secret block, loaded at run time: never in a file or a flow-run parameter", () => {
    const dir = makeProject(FILES);
    const r = runCli([...RENDER, "--state-secret", "dagwright-state", "--out", "flows"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const flowDir = path.join(dir, "flows");
    const { bin, calls } = recorder();
    const flow = runFlow(path.join(flowDir, "g_flow.py"), dir, bin, { "dagwright-state": URL });
    expect(flow.error).toBeNull();
    // The listing (in the flow) and each unit (in its run-task container) got the URL.
    const seen = calls();
    expect(seen.map((c) => c.argv.at(-1))).toEqual(["keys", "each", "each", "each", "total"]);
    for (const c of seen) expect(c.url).toBe(URL);
    expect(flow.secret_loads.length).toBe(seen.length);
    expect(new Set(flow.secret_loads)).toEqual(new Set(["dagwright-state"]));
    // Prefect stores flow-run parameters: the URL is not among them, nor in any rendered file.
    expect(flow.deployment_runs).toHaveLength(4);
    expect(JSON.stringify(flow.deployment_runs)).not.toContain("s3cr3t");
    for (const file of readdirSync(flowDir)) {
      const text = readFileSync(path.join(flowDir, file), "utf8");
      expect(text).not.toContain("s3cr3t");
      if (file.endsWith(".py")) expect(text).toContain('STATE_SECRET = "dagwright-state"');
    }
  });

  it("with --infra process, every run in the flow's process reads the block too", () => {
    const dir = makeProject(FILES);
    const r = runCli(
      ["render", "prefect", "--state-secret", "dagwright-state", "--out", "flows"],
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const { bin, calls } = recorder();
    const flow = runFlow(path.join(dir, "flows", "g_flow.py"), dir, bin, {
      "dagwright-state": URL,
    });
    expect(flow.error).toBeNull();
    expect(flow.deployment_runs).toEqual([]);
    expect(calls().map((c) => c.url)).toEqual([URL, URL, URL, URL, URL]);
  });

  it("without --state-secret, reads no block and leaves DAGWRIGHT_STATE_URL to the environment", () => {
    const dir = makeProject(FILES);
    expect(runCli([...RENDER, "--out", "flows"], dir).code).toBe(0);
    const { bin, calls } = recorder();
    const flow = runFlow(path.join(dir, "flows", "g_flow.py"), dir, bin);
    expect(flow.error).toBeNull();
    expect(flow.secret_loads).toEqual([]);
    expect(readFileSync(path.join(dir, "flows", "g_flow.py"), "utf8")).not.toContain("Secret");
    expect(calls()).toHaveLength(5);
  });

  it("refuses a name that is not a Prefect block name (exit 2), the other targets' default too", () => {
    const dir = makeProject(FILES);
    const r = runCli([...RENDER, "--state-secret", "Dagwright_State", "--out", "flows"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'error: --state-secret: "Dagwright_State" is not a Prefect block name',
    );
    const typed = runCli([...RENDER, "--state-secret", "dagwright-state:url", "--out", "f2"], dir);
    expect(typed.code).toBe(2);
    expect(typed.stderr).toContain('"dagwright-state:url" is not a Prefect block name');
    expect(r.stderr).toContain(
      "hint: a Secret block's name has only lowercase letters, digits and dashes",
    );
  });
});
