import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { makeProject, runCli } from "../helpers.js";

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 1));
    });
  });
}

describe("dagwright worker", () => {
  it("--help says what it takes, what it must share with the coordinator, and where the docs are", () => {
    const r = runCli(["worker", "--help"], makeProject({}));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: dagwright worker [options]");
    expect(r.stdout).toMatch(/--queue <NAME> +take jobs from this queue: a machine_type/);
    expect(r.stdout).toContain("DAGWRIGHT_STATE_URL");
    expect(r.stdout).toContain("DAGWRIGHT_ARTIFACTS_URL");
    expect(r.stdout).toContain(
      "which writes them into the task's log there (dagwright logs GRAPH TASK)",
    );
    expect(r.stdout).toContain("dagwright docs distributed");
  });

  it("exits 2 without --redis", () => {
    const r = runCli(["worker"], makeProject({}));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '--redis <URL>' not specified");
  });

  it("exits 3 naming the address when Redis is unreachable, and 2 for a URL that is not Redis's", async () => {
    const port = await closedPort();
    const down = runCli(["worker", "--redis", `redis://127.0.0.1:${port}`], makeProject({}));
    expect(down.code).toBe(3);
    expect(down.stderr).toContain(`error: cannot reach Redis at 127.0.0.1:${port} (ECONNREFUSED)`);
    const bad = runCli(["worker", "--redis", "http://127.0.0.1:6379"], makeProject({}));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--redis expects a Redis URL, received "http://127.0.0.1:6379"');
  });
});
