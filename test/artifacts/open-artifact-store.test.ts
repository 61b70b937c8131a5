import { describe, expect, it } from "vitest";
import {
  openArtifactStore,
  parseArtifactLocation,
} from "../../src/artifacts/open-artifact-store.js";
import { caught } from "./artifact-store-conformance.js";

describe("parseArtifactLocation", () => {
  it.each([
    { url: "s3://bucket/prefix", location: { kind: "s3", bucket: "bucket", prefix: "prefix" } },
    { url: "s3://bucket", location: { kind: "s3", bucket: "bucket", prefix: "" } },
    { url: "s3://bucket/", location: { kind: "s3", bucket: "bucket", prefix: "" } },
    {
      url: "s3://my.bucket-1/team/a%20b/",
      location: { kind: "s3", bucket: "my.bucket-1", prefix: "team/a b" },
    },
    { url: "file:///mnt/shared", location: { kind: "volume", path: "/mnt/shared" } },
    { url: "/mnt/shared", location: { kind: "volume", path: "/mnt/shared" } },
  ])("reads $url", ({ url, location }) => {
    expect(parseArtifactLocation(url)).toEqual(location);
  });

  it.each([
    {
      url: "relative/dir",
      message:
        'unsupported artifact location "relative/dir": expected s3://bucket/prefix, file:///abs/path or an absolute path',
    },
    {
      url: "gs://bucket/x",
      message:
        'unsupported artifact location "gs://bucket/x": expected s3://bucket/prefix, file:///abs/path or an absolute path',
    },
    {
      url: "s3://bucket/a/../b",
      message: 'artifact location "s3://bucket/a/../b": the prefix must not contain . or ..',
    },
    {
      url: "s3://Bad_Bucket/x",
      message: 'artifact location "s3://Bad_Bucket/x": "Bad_Bucket" is not an S3 bucket name',
    },
    {
      url: "s3://bucket/x?versionId=1",
      message: 'artifact location "s3://bucket/x?versionId=1" must not have a query or fragment',
    },
    { url: "/mnt/../etc", message: 'artifact location "/mnt/../etc" must not contain ..' },
  ])("rejects $url", ({ url, message }) => {
    let error: unknown;
    try {
      parseArtifactLocation(url);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "E_USAGE", message });
  });

  it("rejects credentials in the URL without repeating them", () => {
    expect(() => parseArtifactLocation("s3://AKID:hunter2secret@bucket/p")).toThrow(
      "artifact location s3://… must not contain credentials",
    );
  });
});

describe("openArtifactStore", () => {
  it("opens an S3 store without sending a request", async () => {
    const store = await openArtifactStore("s3://bucket/some/prefix/", {
      endpoint: "http://127.0.0.1:9",
      region: "us-east-1",
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
    });
    expect(store.location).toBe("s3://bucket/some/prefix");
    await store.close();
  });

  it("rejects an endpoint that is not an http(s) URL", async () => {
    const error = await caught(() =>
      openArtifactStore("s3://bucket/p", { endpoint: "minio:9000" }),
    );
    expect(error.code).toBe("E_USAGE");
    expect(error.message).toBe('S3 endpoint "minio:9000" is not an http(s) URL');
  });
});
