import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, runCliAsync } from "../helpers.js";
import { type PostgresService, startPostgres } from "../services/postgres.js";
import { startS3 } from "../services/s3.js";

let pgService: PostgresService;
let s3: Awaited<ReturnType<typeof startS3>>;
beforeAll(async () => {
  pgService = await startPostgres();
  s3 = await startS3();
}, 300_000);
afterAll(async () => {
  await Promise.all([pgService?.stop(), s3?.stop()]);
});

const FILES = {
  "dagwright.yaml": `graphs:
  g: {tasks: {a: , b: a}}
tasks:
  a: {command: [sh, -c, "mkdir -p out && echo from-a > out/a.txt"], outputs: [out/a.txt]}
  b: {command: [sh, -c, "tr a-z A-Z < out/a.txt > out/b.txt"], outputs: [out/b.txt]}
`,
};

describe("run-task with a shared S3 artifact location, pod by pod", () => {
  it("pulls upstream outputs, pushes its own before recording, and finds fresh work fresh in a new pod", async () => {
    const env = {
      DAGWRIGHT_STATE_URL: pgService.url,
      DAGWRIGHT_BRANCH: randomUUID(),
      DAGWRIGHT_ARTIFACTS_URL: `s3://${s3.bucket}/runs/${randomUUID()}`,
      DAGWRIGHT_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
    };
    const podA = makeProject(FILES);
    const podB = makeProject(FILES);
    const podC = makeProject(FILES);
    expect((await runCliAsync(["run-task", "g", "a"], podA, env)).code).toBe(0);
    const b = await runCliAsync(["run-task", "g", "b"], podB, env);
    expect(b.stderr).toContain("✓ b");
    expect(b.code).toBe(0);
    expect(readFileSync(path.join(podB, "out", "b.txt"), "utf8")).toBe("FROM-A\n");
    const c = await runCliAsync(["run-task", "g", "b"], podC, env);
    expect(c.code).toBe(0);
    expect(c.stderr).toContain("· b fresh");
    expect(readFileSync(path.join(podC, "out", "b.txt"), "utf8")).toBe("FROM-A\n");
  });

  it("fails with exit 3 when an upstream output recorded as done is missing from the location", async () => {
    const env = {
      DAGWRIGHT_STATE_URL: pgService.url,
      DAGWRIGHT_BRANCH: randomUUID(),
      DAGWRIGHT_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
    };
    const podA = makeProject(FILES);
    expect(
      (
        await runCliAsync(["run-task", "g", "a"], podA, {
          ...env,
          DAGWRIGHT_ARTIFACTS_URL: `s3://${s3.bucket}/one`,
        })
      ).code,
    ).toBe(0);
    const podB = makeProject(FILES);
    const r = await runCliAsync(["run-task", "g", "b"], podB, {
      ...env,
      DAGWRIGHT_ARTIFACTS_URL: `s3://${s3.bucket}/other`,
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      `upstream outputs recorded as done are missing from s3://${s3.bucket}/other: out/a.txt`,
    );
    expect(existsSync(path.join(podB, "out", "b.txt"))).toBe(false);
  });
});
