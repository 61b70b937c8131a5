import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type * as S3 from "@aws-sdk/client-s3";
import type {
  GetObjectCommandOutput,
  HeadObjectCommandOutput,
  S3ClientConfig,
} from "@aws-sdk/client-s3";
import { hashFile } from "../fingerprint/hash-file.js";
import { DagwrightError } from "../spec/errors.js";
import { requireOptional } from "../spec/optional-package.js";
import {
  missingLocalFile,
  toArtifactPath,
  toArtifactPaths,
  toArtifactPrefix,
} from "./artifact-path.js";
import type { ArtifactStore, PullResult } from "./artifact-store.js";
import { fileStat, removeTemp, tempPathFor } from "./atomic-file.js";
import { mapLimit } from "./map-limit.js";

// The AWS SDK is an optional peer dependency: this module is imported only for an s3:// artifact
// location, and then tells the user to install the SDK if it is missing.
const {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} = requireOptional<typeof S3>(
  "@aws-sdk/client-s3",
  "an S3 artifact location (DAGWRIGHT_ARTIFACTS_URL=s3://…)",
);
type S3Client = S3.S3Client;

/** Static AWS credentials; without them the SDK's default chain is used. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Options of {@link S3ArtifactStore}. */
export interface S3ArtifactStoreOptions {
  bucket: string;
  /** Key prefix without leading or trailing `/`; `""` for the bucket root. */
  prefix: string;
  /** An S3-compatible endpoint (MinIO, s3rver, R2); path-style addressing is used with it. */
  endpoint?: string;
  region?: string;
  /** Default: the SDK's chain (env vars, profile, web identity / IRSA, instance role). */
  credentials?: S3Credentials;
  /** Files transferred at once (default 8). */
  concurrency?: number;
  /** Files larger than this are sent as a multipart upload (default 256 MiB; S3's PUT limit is 5 GiB). */
  multipartThreshold?: number;
  /** Part size of multipart uploads (default 64 MiB, raised so a file needs at most 10,000 parts). */
  partSize?: number;
  /** Attempts per request, with the SDK's backoff (default 3). */
  maxAttempts?: number;
}

/** The user metadata key holding the SHA-256 (hex) of an object's content: `x-amz-meta-sha256`. */
export const SHA256_METADATA = "sha256";

const MiB = 1024 * 1024;
const MAX_PARTS = 10_000;

/**
 * An artifact location in S3 (or an S3-compatible server): the file `p` is the object
 * `<prefix>/p`. Uploads carry the content's SHA-256 as `x-amz-meta-sha256` and its MD5 as
 * `Content-MD5` (S3 rejects a body that changed in transit or while being read); downloads are
 * streamed to a temporary file, checked against that SHA-256 and renamed into place.
 *
 * The first call checks the location once with a tiny listing, so a missing bucket, denied
 * access or an unreachable endpoint surfaces as `E_ENV` before any file moves. Needed
 * permissions: `s3:ListBucket` on the prefix, `s3:GetObject`, `s3:PutObject` (and
 * `s3:AbortMultipartUpload` for files above the multipart threshold).
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #keyPrefix: string;
  readonly #concurrency: number;
  readonly #multipartThreshold: number;
  readonly #partSize: number;
  readonly #secrets: string[];
  #checked: Promise<void> | undefined;

  constructor(options: S3ArtifactStoreOptions) {
    this.#bucket = options.bucket;
    this.#keyPrefix = options.prefix === "" ? "" : `${options.prefix}/`;
    this.location = `s3://${options.bucket}${options.prefix === "" ? "" : `/${options.prefix}`}`;
    this.#concurrency = options.concurrency ?? 8;
    this.#multipartThreshold = options.multipartThreshold ?? 256 * MiB;
    this.#partSize = options.partSize ?? 64 * MiB;
    this.#secrets = [
      options.credentials?.secretAccessKey,
      options.credentials?.sessionToken,
      process.env.AWS_SECRET_ACCESS_KEY,
      process.env.AWS_SESSION_TOKEN,
    ].filter((s): s is string => s !== undefined && s.length >= 4);

    const config: S3ClientConfig = {
      maxAttempts: options.maxAttempts ?? 3,
      followRegionRedirects: true,
      // S3-compatible servers rarely accept the SDK's aws-chunked CRC trailers; integrity comes
      // from Content-MD5 on upload and our own SHA-256 check on download.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // A blackholed endpoint fails in seconds rather than at the OS's TCP timeout.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    };
    if (options.endpoint !== undefined) {
      config.endpoint = options.endpoint;
      config.forcePathStyle = true;
    }
    if (options.region !== undefined) config.region = options.region;
    if (options.credentials !== undefined) config.credentials = options.credentials;
    this.#client = new S3Client(config);
  }

  async pull(root: string, paths: readonly string[]): Promise<PullResult> {
    const rels = toArtifactPaths(paths);
    await this.#check();
    const outcomes = await mapLimit(rels, this.#concurrency, (rel) => this.#pullOne(root, rel));
    const result: PullResult = { fetched: [], upToDate: [], missing: [] };
    rels.forEach((rel, i) => {
      result[outcomes[i] as keyof PullResult].push(rel);
    });
    return result;
  }

  async push(root: string, paths: readonly string[]): Promise<void> {
    const rels = toArtifactPaths(paths);
    await this.#check();
    await mapLimit(rels, this.#concurrency, (rel) => this.#pushOne(root, rel));
  }

  async exists(paths: readonly string[]): Promise<Set<string>> {
    const rels = toArtifactPaths(paths);
    await this.#check();
    const found = await mapLimit(rels, this.#concurrency, async (rel) =>
      (await this.#head(rel)) === undefined ? undefined : rel,
    );
    return new Set(found.filter((rel): rel is string => rel !== undefined));
  }

  async list(prefix: string): Promise<string[]> {
    const norm = toArtifactPrefix(prefix);
    await this.#check();
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#send(
        () =>
          this.#client.send(
            new ListObjectsV2Command({
              Bucket: this.#bucket,
              Prefix: this.#keyPrefix + norm,
              ContinuationToken: token,
            }),
          ),
        "list",
      );
      for (const object of page.Contents ?? []) {
        const rel = object.Key?.slice(this.#keyPrefix.length);
        if (rel === undefined || rel.endsWith("/")) continue;
        // Keys that are not clean relative paths (`a//b`, `../x`) were not written by dagwright.
        try {
          if (toArtifactPath(rel) === rel) out.push(rel);
        } catch {}
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort();
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  /**
   * One cheap listing, once per store: turns a bad bucket, credentials or endpoint into E_ENV. It
   * lists a name under the prefix that holds no objects, so it needs only what `list` needs
   * (s3:ListBucket, possibly restricted to the prefix) and never returns a truncated page.
   */
  #check(): Promise<void> {
    this.#checked ??= this.#send(
      () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: `${this.#keyPrefix}.dagwright-location-check`,
            MaxKeys: 1,
          }),
        ),
      "check",
    ).then(
      () => {},
      (error: unknown) => {
        this.#checked = undefined; // let a later call try again
        throw error;
      },
    );
    return this.#checked;
  }

  async #pullOne(root: string, rel: string): Promise<keyof PullResult> {
    const target = join(root, rel);
    const local = await fileStat(target);
    if (local !== undefined) {
      const head = await this.#head(rel);
      if (head === undefined) return "missing";
      const remoteHash = head.Metadata?.[SHA256_METADATA];
      if (remoteHash !== undefined && head.ContentLength === local.size) {
        const mine = await hashFile(target);
        if (mine?.hash === remoteHash) return "upToDate";
      }
    }
    let object: GetObjectCommandOutput;
    try {
      object = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#keyPrefix + rel }),
      );
    } catch (error) {
      if (isNotFound(error)) return "missing";
      throw this.#envError(error, "download", rel);
    }
    await this.#download(object, rel, target);
    return "fetched";
  }

  /** Streams the body to a temporary file, verifies length and SHA-256, renames into place. */
  async #download(object: GetObjectCommandOutput, rel: string, target: string): Promise<void> {
    const body = object.Body;
    if (!(body instanceof Readable)) {
      throw new DagwrightError("E_INTERNAL", `S3 returned no stream for ${this.#url(rel)}`);
    }
    await mkdir(dirname(target), { recursive: true });
    const temp = tempPathFor(target);
    const hash = createHash("sha256");
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      try {
        await pipeline(body, tap, createWriteStream(temp, { flags: "wx" }));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).syscall !== undefined && !isNetworkError(error))
          throw error; // a local write problem (ENOSPC, EACCES): report it as is
        throw this.#envError(error, "download", rel);
      }
      if (object.ContentLength !== undefined && bytes !== object.ContentLength) {
        throw new DagwrightError(
          "E_ENV",
          `download of ${this.#url(rel)} ended after ${bytes} of ${object.ContentLength} bytes; ${rel} was left unchanged`,
          { hint: "retry the task; the connection to the artifact location was interrupted" },
        );
      }
      const expected = object.Metadata?.[SHA256_METADATA];
      const actual = hash.digest("hex");
      if (expected !== undefined && expected !== actual) {
        throw new DagwrightError(
          "E_ENV",
          `${this.#url(rel)} does not match its sha256 metadata (expected ${expected}, got ${actual}); ${rel} was left unchanged`,
          { hint: "the object was changed outside dagwright; rerun the task that writes it" },
        );
      }
      await rename(temp, target);
    } catch (error) {
      body.destroy();
      await removeTemp(temp);
      throw error;
    }
  }

  async #pushOne(root: string, rel: string): Promise<void> {
    const source = join(root, rel);
    const st = await fileStat(source);
    if (st === undefined) throw missingLocalFile(rel, root);
    const key = this.#keyPrefix + rel;
    if (st.size > this.#multipartThreshold) {
      await this.#pushMultipart(source, rel, st.size);
      return;
    }
    // Hash first (the metadata header precedes the body), then stream the file a second time.
    const { sha256, partMd5 } = await hashForUpload(source, Number.POSITIVE_INFINITY);
    await this.#send(
      () =>
        this.#client.send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: key,
            Body: createReadStream(source),
            ContentLength: st.size,
            ContentMD5: partMd5[0],
            Metadata: { [SHA256_METADATA]: sha256 },
          }),
        ),
      "upload",
      rel,
    );
  }

  /** Parts are sent one after another; the object appears only when the upload completes. */
  async #pushMultipart(source: string, rel: string, size: number): Promise<void> {
    const key = this.#keyPrefix + rel;
    const partSize = Math.max(this.#partSize, Math.ceil(size / MAX_PARTS));
    const { sha256, partMd5 } = await hashForUpload(source, partSize);
    const created = await this.#send(
      () =>
        this.#client.send(
          new CreateMultipartUploadCommand({
            Bucket: this.#bucket,
            Key: key,
            Metadata: { [SHA256_METADATA]: sha256 },
          }),
        ),
      "upload",
      rel,
    );
    const uploadId = created.UploadId;
    if (uploadId === undefined) {
      throw new DagwrightError("E_INTERNAL", `S3 returned no upload id for ${this.#url(rel)}`);
    }
    try {
      const parts: { ETag: string | undefined; PartNumber: number }[] = [];
      for (let i = 0; i * partSize < size; i++) {
        const start = i * partSize;
        const length = Math.min(partSize, size - start);
        const part = await this.#send(
          () =>
            this.#client.send(
              new UploadPartCommand({
                Bucket: this.#bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: i + 1,
                Body: createReadStream(source, { start, end: start + length - 1 }),
                ContentLength: length,
                ContentMD5: partMd5[i],
              }),
            ),
          "upload",
          rel,
        );
        parts.push({ ETag: part.ETag, PartNumber: i + 1 });
      }
      await this.#send(
        () =>
          this.#client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.#bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
          ),
        "upload",
        rel,
      );
    } catch (error) {
      await this.#client
        .send(
          new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }),
        )
        .catch(() => {});
      throw error;
    }
  }

  /** The object's metadata, or undefined when it does not exist. */
  async #head(rel: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#keyPrefix + rel }),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.#envError(error, "check", rel);
    }
  }

  async #send<T>(
    call: () => Promise<T>,
    action: "check" | "list" | "download" | "upload",
    rel?: string,
  ): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.#envError(error, action, rel);
    }
  }

  #url(rel: string): string {
    return `s3://${this.#bucket}/${this.#keyPrefix}${rel}`;
  }

  /**
   * An `E_ENV` error for a failed request. The SDK's error is not kept as `cause` (it can carry
   * request details); only its name and a scrubbed message are.
   */
  #envError(error: unknown, action: string, rel?: string): DagwrightError {
    if (error instanceof DagwrightError) return error;
    const name = errorName(error);
    const status = httpStatus(error);
    const detail = this.#scrub(errorMessage(error));
    const what = rel === undefined ? "" : ` while trying to ${action} ${rel}`;
    let reason: string;
    let hint: string;
    if (name === "NoSuchBucket") {
      reason = `bucket "${this.#bucket}" does not exist`;
      hint = `create the bucket, or fix the artifact location (now ${this.location})`;
    } else if (
      status === 403 ||
      name === "AccessDenied" ||
      name === "InvalidAccessKeyId" ||
      name === "SignatureDoesNotMatch" ||
      name === "ExpiredToken"
    ) {
      reason = `access denied: ${name}`;
      hint =
        "check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the pod's service account role); " +
        "they need s3:ListBucket on the prefix and s3:GetObject and s3:PutObject on its objects";
    } else if (name === "CredentialsProviderError") {
      reason = "no AWS credentials found";
      hint =
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or give the pod a role";
    } else if (/region is missing/i.test(detail)) {
      reason = "no AWS region configured";
      hint = "set AWS_REGION";
    } else {
      reason = detail === "" ? name : detail;
      hint =
        "check the network and the endpoint (DAGWRIGHT_S3_ENDPOINT for S3-compatible servers) and AWS_REGION";
    }
    const wrapped = new DagwrightError(
      "E_ENV",
      `cannot reach ${this.location} (${reason})${what}`,
      {
        cause: Object.assign(new Error(detail), { name }),
        hint,
      },
    );
    return wrapped;
  }

  #scrub(text: string): string {
    let out = text;
    for (const secret of this.#secrets) out = out.split(secret).join("***");
    return out;
  }
}

/**
 * One pass over the file: its SHA-256, and the base64 MD5 of each `partSize` slice (pass
 * Infinity for a single PUT: one MD5 of the whole file).
 */
async function hashForUpload(
  path: string,
  partSize: number,
): Promise<{ sha256: string; partMd5: string[] }> {
  const sha = createHash("sha256");
  const partMd5: string[] = [];
  let md5: Hash = createHash("md5");
  let inPart = 0;
  for await (const data of createReadStream(path)) {
    let chunk = data as Buffer;
    sha.update(chunk);
    while (chunk.length > 0) {
      const take = Math.min(chunk.length, partSize - inPart);
      md5.update(chunk.subarray(0, take));
      inPart += take;
      chunk = chunk.subarray(take);
      if (inPart === partSize) {
        partMd5.push(md5.digest("base64"));
        md5 = createHash("md5");
        inPart = 0;
      }
    }
  }
  if (inPart > 0 || partMd5.length === 0) partMd5.push(md5.digest("base64"));
  return { sha256: sha.digest("hex"), partMd5 };
}

function errorName(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const e = error as { name?: unknown; code?: unknown };
    if (typeof e.name === "string" && e.name !== "Error") return e.name;
    if (typeof e.code === "string") return e.code;
  }
  return "Error";
}

function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    // Node reports "connect ECONNREFUSED" per address tried; the first says enough.
    return errorMessage(error.errors[0]);
  }
  if (error instanceof Error) return error.message !== "" ? error.message : errorName(error);
  return String(error);
}

function httpStatus(error: unknown): number | undefined {
  const meta = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return meta?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  if (name === "NoSuchBucket") return false;
  return name === "NoSuchKey" || name === "NotFound" || httpStatus(error) === 404;
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

function isNetworkError(error: unknown): boolean {
  return NETWORK_CODES.has(String((error as NodeJS.ErrnoException).code));
}
