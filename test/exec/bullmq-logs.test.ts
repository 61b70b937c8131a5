import { mkdtempSync, readdirSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { RemoteTaskLogs } from "../../src/exec/bullmq-logs.js";

/** This process's open files under `dir` (Linux: /proc/self/fd). */
function openUnder(dir: string): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

describe.skipIf(process.platform !== "linux")("the coordinator's copies of remote logs", () => {
  it("holds no file open once a bundle's job ended, however many items the fan-out has", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dagwright-remote-logs-"));
    const logs = new RemoteTaskLogs(dir, 5);
    for (let b = 0; b < 300; b++) {
      const bundle = [`k${2 * b}`, `k${2 * b + 1}`];
      for (const item of bundle)
        logs.take(
          { type: "log", task: "t", item, line: `hello ${item}`, time: new Date(0).toISOString() },
          "w:1",
          bundle,
        );
      expect(openUnder(dir).length).toBeGreaterThan(0);
      logs.endJob("t", bundle);
      expect(openUnder(dir)).toEqual([]);
    }
    logs.take({ type: "log", task: "u", line: "whole", time: new Date(0).toISOString() }, "w:1");
    logs.endJob("u");
    expect(openUnder(dir)).toEqual([]);
    logs.close();
  });
});
