import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeProject } from "../helpers.js";

const MIB = 1024 * 1024;

/**
 * Runs `dagwright run --force` under a Python parent that reports the peak RSS of its waited-for
 * children (the runner is the largest), in KiB: the kernel's own figure, not a sample.
 */
function peakRssKb(dir: string): number {
  const r = spawnSync(
    "python3",
    [
      "-c",
      "import resource, subprocess, sys\n" +
        "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n" +
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
      process.execPath,
      BIN,
      "run",
      "--force",
    ],
    { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
  );
  const [code, kb] = r.stdout.trim().split(" ").map(Number);
  expect(code, r.stderr).toBe(0);
  return kb!;
}

function project(lines: number): string {
  return makeProject({
    "dagwright.yaml":
      "graphs:\n  g:\n    tasks:\n      loud:\ntasks:\n  loud:\n    file: loud.ts\n",
    "loud.ts": `export function loud(): void {
  const line = "x".repeat(1023);
  for (let i = 0; i < ${lines}; i++) console.log(line);
}
`,
  });
}

describe("a TS task printing a lot", () => {
  it("streams its output to the log: 200 MiB printed add far less than that to the runner", () => {
    const quiet = peakRssKb(project(1));
    const dir = project(200 * 1024);
    const loud = peakRssKb(dir);
    const logs = path.join(dir, ".dagwright", "logs", "g@default", "loud");
    expect(statSync(path.join(logs, readdirSync(logs)[0]!)).size).toBeGreaterThan(200 * MIB);
    expect((loud - quiet) * 1024).toBeLessThan(64 * MIB);
  });
});
