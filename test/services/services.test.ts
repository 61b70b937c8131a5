import pg from "pg";
import { describe, expect, it } from "vitest";
import { freePort, startPostgres } from "./postgres.js";
import { startS3 } from "./s3.js";

async function dataDirectory(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ d: string }>(
      "SELECT current_setting('data_directory') AS d",
    );
    return rows[0]!.d;
  } finally {
    await client.end();
  }
}

describe("test services", () => {
  it("starts PostgreSQL on another port when its first port is taken by another server", async () => {
    const first = await startPostgres();
    try {
      const taken = Number(new URL(first.url).port);
      const ports = [taken];
      const second = await startPostgres({ nextPort: async () => ports.shift() ?? freePort() });
      try {
        expect(Number(new URL(second.url).port)).not.toBe(taken);
        expect(await dataDirectory(second.url)).not.toBe(await dataDirectory(first.url));
      } finally {
        await second.stop();
      }
      // The first server is untouched by the second's failed attempt.
      expect(await dataDirectory(first.url)).toMatch(/dagwright-pg-/);
    } finally {
      await first.stop();
    }
  }, 300_000);

  it("starts S3 with its bucket listable, and stops it", async () => {
    const s3 = await startS3();
    const response = await fetch(`${s3.endpoint}/${s3.bucket}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("<ListBucketResult");
    await s3.stop();
    await expect(fetch(`${s3.endpoint}/${s3.bucket}`)).rejects.toThrow();
  });
});
