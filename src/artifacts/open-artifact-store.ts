import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { DagwrightError } from "../spec/errors.js";
import type { ArtifactStore } from "./artifact-store.js";
import type { S3Credentials } from "./s3-artifact-store.js";

/** Overrides for {@link openArtifactStore}; each defaults to the environment. */
export interface ArtifactStoreOptions {
  /** S3-compatible endpoint. Default: `DAGWRIGHT_S3_ENDPOINT`, else AWS's own endpoints. */
  endpoint?: string;
  /** Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the AWS profile, else `us-east-1` with an endpoint. */
  region?: string;
  /** Default: the AWS SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, IRSA, instance role). */
  credentials?: S3Credentials;
  /** Files transferred at once (default 8). */
  concurrency?: number;
}

/** Where an artifact location URL points. */
export type ArtifactLocation =
  | { kind: "s3"; bucket: string; prefix: string }
  | { kind: "volume"; path: string };

const FORMS = "s3://bucket/prefix, file:///abs/path or an absolute path";

/**
 * Parses an artifact location: `s3://bucket/prefix` (prefix optional), `file:///abs/path`, or an
 * absolute path (a mounted volume). Pure; touches nothing.
 *
 * @throws DagwrightError `E_USAGE` for any other form, a prefix or path with `..`, or a URL with
 *   credentials in it (the message does not repeat them).
 */
export function parseArtifactLocation(url: string): ArtifactLocation {
  if (url.startsWith("s3://")) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw usage(`artifact location ${JSON.stringify(url)} is not a valid URL`);
    }
    if (parsed.username !== "" || parsed.password !== "") {
      throw new DagwrightError("E_USAGE", "artifact location s3://… must not contain credentials", {
        hint: "put credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile or role), never in the URL",
      });
    }
    if (parsed.search !== "" || parsed.hash !== "") {
      throw usage(`artifact location ${JSON.stringify(url)} must not have a query or fragment`);
    }
    // Read bucket and prefix from the text: URL parsing would resolve "a/../b" to "b" silently.
    const rest = url.slice("s3://".length).split(/[?#]/)[0] ?? "";
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw usage(`artifact location ${JSON.stringify(url)}: "${bucket}" is not an S3 bucket name`);
    }
    let path: string;
    try {
      path = decodeURIComponent(slash < 0 ? "" : rest.slice(slash));
    } catch (error) {
      throw usage(`artifact location ${JSON.stringify(url)} is not a valid URL`, error);
    }
    const segments = path.split("/").filter((s) => s !== "");
    if (segments.some((s) => s === "." || s === "..")) {
      throw usage(`artifact location ${JSON.stringify(url)}: the prefix must not contain . or ..`);
    }
    return { kind: "s3", bucket, prefix: segments.join("/") };
  }
  if (url.startsWith("file:")) {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (error) {
      throw usage(`artifact location ${JSON.stringify(url)} is not a valid file URL`, error);
    }
    return volume(url, path);
  }
  if (isAbsolute(url)) return volume(url, url);
  throw usage(`unsupported artifact location ${JSON.stringify(url)}: expected ${FORMS}`);
}

/**
 * Opens the artifact store at `url` (see {@link parseArtifactLocation}). The AWS SDK is loaded
 * only for `s3://` locations. Opening an S3 store sends nothing; the first operation checks the
 * location. Opening a volume store checks that the directory exists.
 *
 * The default in rendered workflows needs no store: the shared volume (PVC) is mounted at the
 * project root, so every pod already sees every file.
 *
 * @throws DagwrightError `E_USAGE` for a malformed URL or endpoint, `E_ENV` for a volume that
 *   is not mounted.
 */
export async function openArtifactStore(
  url: string,
  options: ArtifactStoreOptions = {},
): Promise<ArtifactStore> {
  const location = parseArtifactLocation(url);
  if (location.kind === "volume") {
    const { VolumeArtifactStore } = await import("./volume-artifact-store.js");
    return VolumeArtifactStore.open(
      location.path,
      options.concurrency === undefined ? {} : { concurrency: options.concurrency },
    );
  }
  const endpoint = options.endpoint ?? nonEmpty(process.env.DAGWRIGHT_S3_ENDPOINT);
  if (endpoint !== undefined && !/^https?:\/\/[^/\s]+/.test(endpoint)) {
    throw usage(
      `S3 endpoint ${JSON.stringify(endpoint)} is not an http(s) URL`,
      undefined,
      "set DAGWRIGHT_S3_ENDPOINT to a URL such as http://minio:9000",
    );
  }
  const region =
    options.region ??
    nonEmpty(process.env.AWS_REGION) ??
    nonEmpty(process.env.AWS_DEFAULT_REGION) ??
    (endpoint === undefined ? undefined : "us-east-1");
  const { S3ArtifactStore } = await import("./s3-artifact-store.js");
  return new S3ArtifactStore({
    bucket: location.bucket,
    prefix: location.prefix,
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(region === undefined ? {} : { region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });
}

function volume(url: string, path: string): ArtifactLocation {
  if (!isAbsolute(path)) {
    throw usage(`artifact location ${JSON.stringify(url)} must be an absolute path`);
  }
  if (path.split(/[\\/]/).includes("..")) {
    throw usage(`artifact location ${JSON.stringify(url)} must not contain ..`);
  }
  return { kind: "volume", path };
}

function usage(message: string, cause?: unknown, hint = `expected ${FORMS}`): DagwrightError {
  return new DagwrightError("E_USAGE", message, { cause, hint });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
