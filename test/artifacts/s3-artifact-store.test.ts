import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import { join } from "node:path";
import { inspect } from "node:util";
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ArtifactStore } from "../../src/artifacts/artifact-store.js";
import { openArtifactStore } from "../../src/artifacts/open-artifact-store.js";
import { S3ArtifactStore } from "../../src/artifacts/s3-artifact-store.js";
import { S3RVER_CREDENTIALS, type S3Service, startS3 } from "../services/s3.js";
import {
  allFiles,
  caught,
  describeArtifactStore,
  MiB,
  sha256Of,
  tempProject,
  writeFiles,
} from "./artifact-store-conformance.js";

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createTcpServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

let s3: S3Service;
let prefixes = 0;
/** A fresh prefix per store, so tests sharing one server never see each other's objects. */
const nextPrefix = (): string => `runs/r${++prefixes}`;

beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});

const open = (prefix = nextPrefix()): Promise<ArtifactStore> =>
  openArtifactStore(`s3://${s3.bucket}/${prefix}`, {
    endpoint: s3.endpoint,
    credentials: S3RVER_CREDENTIALS,
    region: "us-east-1",
  });

describeArtifactStore("s3 (s3rver)", () => open());

describe("S3 artifact store", () => {
  let dirs: string[] = [];
  let stores: ArtifactStore[] = [];
  const project = (): string => {
    const dir = tempProject();
    dirs.push(dir);
    return dir;
  };
  const track = <T extends ArtifactStore>(store: T): T => {
    stores.push(store);
    return store;
  };
  const raw = (): S3Client =>
    new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: "us-east-1",
      credentials: S3RVER_CREDENTIALS,
    });

  beforeEach(() => {
    dirs = [];
    stores = [];
  });
  afterEach(async () => {
    for (const store of stores) await store.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("stores objects under <prefix>/<path> with the content's sha256 as metadata", async () => {
    const prefix = nextPrefix();
    const store = track(await open(prefix));
    expect(store.location).toBe(`s3://${s3.bucket}/${prefix}`);
    const root = project();
    writeFiles(root, { "out/a.csv": "a,b\n" });
    await store.push(root, ["./out/a.csv"]);
    const client = raw();
    const head = await client.send(
      new HeadObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/out/a.csv` }),
    );
    client.destroy();
    expect(head.Metadata?.sha256).toBe(createHash("sha256").update("a,b\n").digest("hex"));
    expect(head.ContentLength).toBe(4);
  });

  it("skips downloading a file whose local size and sha256 match (HEAD only, no GET)", async () => {
    const prefix = nextPrefix();
    const store = track(await open(prefix));
    const root = project();
    writeFiles(root, { "out/same.csv": "same\n" });
    await store.push(root, ["out/same.csv"]);
    const from = s3.requests.length;
    expect(await store.pull(root, ["out/same.csv"])).toEqual({
      fetched: [],
      upToDate: ["out/same.csv"],
      missing: [],
    });
    const objectRequests = s3.requests
      .slice(from)
      .filter((r) => r.url.startsWith(`/${s3.bucket}/${prefix}/out/same.csv`));
    expect(objectRequests.map((r) => r.method)).toEqual(["HEAD"]);
  });

  it("sends large files as a multipart upload and reads them back intact", async () => {
    const prefix = nextPrefix();
    const store = track(
      new S3ArtifactStore({
        bucket: s3.bucket,
        prefix,
        endpoint: s3.endpoint,
        region: "us-east-1",
        credentials: S3RVER_CREDENTIALS,
        multipartThreshold: 8 * MiB,
        partSize: 5 * MiB,
      }),
    );
    const a = project();
    const big = randomBytes(20 * MiB + 123);
    writeFiles(a, { "big/part.bin": big });
    const from = s3.requests.length;
    await store.push(a, ["big/part.bin"]);
    const parts = s3.requests.slice(from).filter((r) => r.url.includes("partNumber="));
    expect(parts).toHaveLength(5);
    const b = project();
    expect((await store.pull(b, ["big/part.bin"])).fetched).toEqual(["big/part.bin"]);
    expect(await sha256Of(join(b, "big/part.bin"))).toBe(
      createHash("sha256").update(big).digest("hex"),
    );
  });

  it("refuses an object whose content does not match its sha256 metadata and keeps the local file", async () => {
    const prefix = nextPrefix();
    const store = track(await open(prefix));
    const client = raw();
    await client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${prefix}/tampered.csv`,
        Body: "changed behind our back",
        Metadata: { sha256: "0".repeat(64) },
      }),
    );
    client.destroy();
    const root = project();
    writeFiles(root, { "tampered.csv": "previous" });
    const error = await caught(() => store.pull(root, ["tampered.csv"]));
    expect(error.code).toBe("E_ENV");
    expect(error.message).toMatch(
      new RegExp(
        `^s3://${s3.bucket}/${prefix}/tampered.csv does not match its sha256 metadata \\(expected 0{64}, got [0-9a-f]{64}\\); tampered.csv was left unchanged$`,
      ),
    );
    expect(readFileSync(join(root, "tampered.csv"), "utf8")).toBe("previous");
    expect(allFiles(root)).toEqual(["tampered.csv"]);
  });

  it("reports an unreachable endpoint as E_ENV without the secret key", async () => {
    const port = await closedPort();
    const secret = "TOP-secret-key-never-printed";
    const store = track(
      await openArtifactStore("s3://some-bucket/some/prefix", {
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret },
        region: "us-east-1",
      }),
    );
    const root = project();
    const error = await caught(() => store.pull(root, ["a.csv"]));
    expect(error.code).toBe("E_ENV");
    expect(error.message).toMatch(
      /^cannot reach s3:\/\/some-bucket\/some\/prefix \(.*ECONNREFUSED.*\)$/,
    );
    expect(error.hint).toContain("DAGWRIGHT_S3_ENDPOINT");
    expect(inspect(error, { depth: 20 })).not.toContain(secret);
    expect(allFiles(root)).toEqual([]);
  });

  it("reports denied access as E_ENV naming the reason, without the secret key", async () => {
    const secret = "another-secret-value";
    const store = track(
      await openArtifactStore(`s3://${s3.bucket}/p`, {
        endpoint: s3.endpoint,
        credentials: { accessKeyId: "UNKNOWN-KEY", secretAccessKey: secret },
        region: "us-east-1",
      }),
    );
    const error = await caught(() => store.exists(["a.csv"]));
    expect(error.code).toBe("E_ENV");
    expect(error.message).toBe(
      `cannot reach s3://${s3.bucket}/p (access denied: InvalidAccessKeyId)`,
    );
    expect(error.hint).toContain("s3:GetObject");
    expect(inspect(error, { depth: 20 })).not.toContain(secret);
  });

  it("reports a missing bucket as E_ENV", async () => {
    const store = track(
      await openArtifactStore("s3://no-such-bucket/p", {
        endpoint: s3.endpoint,
        credentials: S3RVER_CREDENTIALS,
        region: "us-east-1",
      }),
    );
    const root = project();
    writeFiles(root, { "a.csv": "a" });
    const error = await caught(() => store.push(root, ["a.csv"]));
    expect(error.code).toBe("E_ENV");
    expect(error.message).toBe(
      'cannot reach s3://no-such-bucket/p (bucket "no-such-bucket" does not exist)',
    );
  });

  it("lists keys relative to the prefix, ignoring keys outside it", async () => {
    const prefix = nextPrefix();
    const store = track(await open(prefix));
    const neighbour = track(await open(`${prefix}-neighbour`));
    const root = project();
    writeFiles(root, { "out/x/1.csv": "1", "out/2.csv": "2" });
    await store.push(root, ["out/x/1.csv", "out/2.csv"]);
    await neighbour.push(root, ["out/2.csv"]);
    expect(await store.list("out/")).toEqual(["out/2.csv", "out/x/1.csv"]);
    expect(await neighbour.list("")).toEqual(["out/2.csv"]);
  });

  it("works at the bucket root (no prefix)", async () => {
    const store = track(await open(""));
    expect(store.location).toBe(`s3://${s3.bucket}`);
    const root = project();
    writeFiles(root, { "rootlevel/file.txt": "r" });
    await store.push(root, ["rootlevel/file.txt"]);
    expect(await store.list("rootlevel/")).toEqual(["rootlevel/file.txt"]);
  });
});

describe("S3 artifact store: a download cut off midway", () => {
  const bucket = "cut-bucket";
  const size = 4 * MiB;
  let server: Server;
  let endpoint: string;
  let root: string;

  beforeAll(async () => {
    // Answers the location check, then starts every object download and drops the connection.
    server = createServer((req, res) => {
      if (req.url?.includes("list-type=2")) {
        res.writeHead(200, { "content-type": "application/xml" });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>p/</Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`,
        );
        return;
      }
      const headers = { "content-length": String(size), "x-amz-meta-sha256": "f".repeat(64) };
      if (req.method === "HEAD") {
        res.writeHead(200, headers);
        res.end();
        return;
      }
      res.writeHead(200, headers);
      res.write(Buffer.alloc(256 * 1024, 7), () => {
        setTimeout(() => res.socket?.destroy(), 20);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    root = tempProject();
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  const store = (): Promise<ArtifactStore> =>
    openArtifactStore(`s3://${bucket}/p`, {
      endpoint,
      credentials: S3RVER_CREDENTIALS,
      region: "us-east-1",
    });

  it("leaves no file (and no temporary file) at the target", async () => {
    const s = await store();
    try {
      const error = await caught(() => s.pull(root, ["out/big.bin"]));
      expect(error.code).toBe("E_ENV");
      expect(error.message).toMatch(
        /^cannot reach s3:\/\/cut-bucket\/p \(.+\) while trying to download out\/big.bin$/,
      );
    } finally {
      await s.close();
    }
    expect(existsSync(join(root, "out/big.bin"))).toBe(false);
    expect(allFiles(root)).toEqual([]);
  });

  it("keeps the previous local file intact", async () => {
    writeFiles(root, { "out/big.bin": "previous version" });
    const before = statSync(join(root, "out/big.bin"));
    const s = await store();
    try {
      expect((await caught(() => s.pull(root, ["out/big.bin"]))).code).toBe("E_ENV");
    } finally {
      await s.close();
    }
    expect(readFileSync(join(root, "out/big.bin"), "utf8")).toBe("previous version");
    expect(statSync(join(root, "out/big.bin")).ino).toBe(before.ino);
    expect(allFiles(root)).toEqual(["out/big.bin"]);
  });
});
