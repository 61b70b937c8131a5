// A `dagwright worker` asked to stop at the terminal (Ctrl-C reaches its whole process group)
// finishes its running jobs, TS/JS tasks included: their worker processes are not in that group.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeProject } from "../helpers.js";
import { hasRedisServer, startRedis } from "../services/redis.js";
import { startRun } from "./bullmq-service.js";

const SPEC =
  "graphs:\n  g:\n    tasks:\n      t:\ntasks:\n  t:\n    file: t.ts\n    outputs: [out/t.txt]\n";

const TASK = [
  'import { existsSync, mkdirSync, writeFileSync } from "node:fs";',
  "export async function t(): Promise<void> {",
  '  writeFileSync("started", "");',
  '  while (!existsSync("go")) await new Promise((resolve) => setTimeout(resolve, 20));',
  '  mkdirSync("out", { recursive: true });',
  '  writeFileSync("out/t.txt", "done\\n");',
  "}",
  "",
].join("\n");

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(!hasRedisServer())("dagwright worker and Ctrl-C", () => {
  it("finishes a running TS task when Ctrl-C reaches the worker's process group, then exits 0", async () => {
    const redis = await startRedis();
    let stderr = "";
    // The leader of its own process group, as a worker started from a terminal is.
    const worker = spawn(process.execPath, [BIN, "worker", "--redis", redis.url], {
      cwd: tmpdir(),
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    worker.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => worker.on("exit", (code) => r(code)));
    try {
      await until(() => stderr.includes("waiting for jobs"), "the worker to start");
      const dir = makeProject({ "dagwright.yaml": SPEC, "t.ts": TASK });
      const run = startRun(dir, ["--executor", "bullmq", "--redis", redis.url]);
      await until(() => existsSync(path.join(dir, "started")), "the task to start");
      process.kill(-worker.pid!, "SIGINT");
      await until(() => stderr.includes("stopping: finishing running jobs"), "the worker to stop");
      writeFileSync(path.join(dir, "go"), "");
      expect(await run.exited, run.stderr()).toBe(0);
      expect(readFileSync(path.join(dir, "out/t.txt"), "utf8")).toBe("done\n");
      expect(await exited, stderr).toBe(0);
    } finally {
      if (worker.exitCode === null) worker.kill("SIGKILL");
      await redis.stop();
    }
  }, 120_000);
});
