import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A throwaway S3-compatible server for one test file. */
export interface S3Service {
  /** `http://127.0.0.1:PORT`; use path-style addressing (DAGWRIGHT_S3_ENDPOINT). */
  endpoint: string;
  /** A bucket that exists when the server starts. */
  bucket: string;
  /** Every request the server received, in order (method and path with query), for assertions. */
  requests: { method: string; url: string }[];
  /** Closes the server (dropping open connections) and deletes its directory. Idempotent. */
  stop: () => Promise<void>;
}

/** The part of s3rver's API used here (the package ships no types). */
interface S3rver {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rver;

const require = createRequire(import.meta.url);

/** Credentials s3rver accepts (it checks the key id, not SigV4 signatures). */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** s3rver can fail to start or answer under load; each try uses a fresh directory and port. */
const START_ATTEMPTS = 3;
const READY_WAIT_MS = 60_000;

/**
 * Starts s3rver in this process on 127.0.0.1 (never any other address) on a random port, storing
 * objects in a fresh temp directory, with the bucket `dagwright-test` already created and logging
 * off. Clients authenticate with {@link S3RVER_CREDENTIALS} and region `us-east-1`.
 *
 * Ready means a real S3 request (ListObjects on the bucket) answered 200; a start that fails or
 * never answers is retried up to 3 times.
 *
 * Known gap: s3rver cannot return a truncated ListObjectsV2 page (its continuation tokens use DES,
 * which Node's OpenSSL 3 lacks), so a test must not list more keys than MaxKeys (1000) at once.
 */
export async function startS3(): Promise<S3Service> {
  const failures: string[] = [];
  for (let i = 0; i < START_ATTEMPTS; i++) {
    try {
      return await startOnce();
    } catch (error) {
      failures.push(`attempt ${i + 1}: ${(error as Error).message}`);
    }
  }
  throw new Error(`s3rver did not start in ${START_ATTEMPTS} attempts:\n${failures.join("\n")}`);
}

async function startOnce(): Promise<S3Service> {
  const S3rverClass = require("s3rver") as S3rverConstructor;
  const directory = mkdtempSync(join(tmpdir(), "dagwright-s3-"));
  const bucket = "dagwright-test";
  const server = new S3rverClass({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  let endpoint: string;
  try {
    const address = await server.run();
    endpoint = `http://127.0.0.1:${address.port}`;
    await waitUntilListing(`${endpoint}/${bucket}`);
  } catch (error) {
    server.httpServer?.closeAllConnections();
    await server.close().catch(() => {});
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const requests: { method: string; url: string }[] = [];
  server.httpServer?.prependListener("request", (req) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "" });
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    server.httpServer?.closeAllConnections();
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  };
  return { endpoint, bucket, requests, stop };
}

/** Resolves once GET on the bucket (an anonymous ListObjects) answers 200. */
async function waitUntilListing(url: string): Promise<void> {
  const deadline = Date.now() + READY_WAIT_MS;
  let last = "no answer";
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`s3rver at ${url} did not answer within ${READY_WAIT_MS / 1000} s (${last})`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
