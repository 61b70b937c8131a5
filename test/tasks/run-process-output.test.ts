import { describe, expect, it } from "vitest";
import { runProcess, signalGroup } from "../../src/tasks/run-process.js";

/** Runs `sh -c script` with its output piped to a sink; returns the outcome and the output. */
async function piped(script: string) {
  const chunks: Buffer[] = [];
  const outcome = await runProcess({
    command: "sh",
    args: ["-c", script],
    cwd: process.cwd(),
    env: process.env,
    logFd: -1,
    output: (chunk) => chunks.push(chunk),
    killGraceMs: 200,
  });
  return { outcome, text: Buffer.concat(chunks).toString("utf8") };
}

describe("runProcess with an output sink", () => {
  it("hands on all of stdout and stderr before it settles", async () => {
    const { outcome, text } = await piped(
      "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; echo err >&2; exit 4",
    );
    expect(outcome.ended).toBe("exited");
    expect(outcome.exitCode).toBe(4);
    const lines = text.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("line-"))).toHaveLength(2000);
    expect(lines).toContain("err");
  });

  it("settles when a process that left the group still holds the pipes", async () => {
    const { outcome, text } = await piped("setsid sleep 30 & echo $!; echo started");
    expect(outcome.exitCode).toBe(0);
    expect(text).toContain("started\n");
    const escaped = Number(text.split("\n")[0]);
    if (escaped > 0) signalGroup(escaped, "SIGKILL");
  });
});
