import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, REPO } from "../helpers.js";

/** Imports a flow file against test/render/prefect-stubs and runs its flow (see run_flow.py). */
export const RUN_FLOW = path.join(REPO, "test", "render", "prefect-stubs", "run_flow.py");

/** One task run of a stubbed flow run. */
export interface FlowTaskRun {
  task: string;
  args: unknown[];
  waited: number[];
  /** Whether its body ran (not when a run it waited for failed). */
  ran: boolean;
  error?: string;
}

/** One `run_deployment` call of a stubbed flow run (`--infra work-pool`). */
export interface DeploymentRun {
  deployment: string;
  flow_run_name: string;
  parameters: { args: string[]; env: Record<string, string> };
  job_variables: Record<string, number>;
}

/** What run_flow.py reports, with its exit code. */
export interface FlowRun {
  code: number | null;
  runs: FlowTaskRun[];
  deployment_runs: DeploymentRun[];
  /** The Secret blocks loaded (prefect.blocks.system.Secret.load), in order. */
  secret_loads: string[];
  error: string | null;
}

/** A directory with `dagwright` on it: the real binary, or `script` (a Python program). */
export function binDir(script?: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-bin-"));
  const file = path.join(dir, "dagwright");
  writeFileSync(
    file,
    script === undefined
      ? `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`
      : `#!/usr/bin/env python3\n${script}`,
  );
  chmodSync(file, 0o755);
  return dir;
}

/**
 * Runs a rendered flow in `cwd` with the stubs, `bin` (default: the real CLI) first on PATH;
 * `secrets` are the Secret blocks the stub server holds (name -> value).
 */
export function runFlow(
  file: string,
  cwd: string,
  bin: string = binDir(),
  secrets: Record<string, string> = {},
): FlowRun {
  const r = spawnSync("python3", [RUN_FLOW, file], {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      NO_COLOR: "1",
      PATH: `${bin}:${process.env.PATH}`,
      PREFECT_STUB_SECRETS: JSON.stringify(secrets),
    },
  });
  if (r.stdout === "") throw new Error(`run_flow.py failed (${r.status}):\n${r.stderr}`);
  return { code: r.status, ...(JSON.parse(r.stdout) as Omit<FlowRun, "code">) };
}
