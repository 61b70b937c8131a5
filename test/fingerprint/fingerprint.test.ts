import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/fingerprint/canonical-json.js";
import {
  describeChange,
  diffParts,
  type FingerprintParts,
  fingerprintOf,
  partsCanonicalJson,
} from "../../src/fingerprint/fingerprint.js";
import { hashValue } from "../../src/fingerprint/hash-value.js";

function parts(over: Partial<FingerprintParts> = {}): FingerprintParts {
  return {
    definition: hashValue({ kind: "r", file: "B/run.R" }),
    code: { "B/run.R": "c1", "B/util.R": "c2" },
    args: hashValue({ year: 2024 }),
    config: hashValue({}),
    env: hashValue({}),
    inputs: { "data/a.csv": "i1", "data/b.csv": "i2" },
    upstream: { extract: { outputs: "o1", result: "r1" }, load: { outputs: "o2", result: null } },
    runtime: { Rscript: "4.2.2" },
    ...over,
  };
}

const reasons = (before: FingerprintParts, after: FingerprintParts) =>
  diffParts(before, after).map(describeChange);

describe("fingerprintOf", () => {
  it("is the hash of the parts, independent of key order", () => {
    const p = parts();
    const reordered = Object.fromEntries(
      Object.entries(p).reverse(),
    ) as unknown as FingerprintParts;
    expect(fingerprintOf(reordered)).toBe(fingerprintOf(p));
    expect(fingerprintOf(p)).toBe(hashValue(p));
  });

  it("changes when any part changes", () => {
    expect(fingerprintOf(parts({ runtime: { Rscript: "4.3.0" } }))).not.toBe(
      fingerprintOf(parts()),
    );
  });
});

describe("partsCanonicalJson", () => {
  it("is canonicalJson of the parts, for any keys and values", () => {
    const text = fc.string({ unit: "binary" });
    const record = fc.dictionary(text, text);
    fc.assert(
      fc.property(
        fc.record({
          definition: text,
          code: record,
          args: text,
          config: text,
          env: text,
          inputs: record,
          upstream: fc.dictionary(
            text,
            fc.record({ outputs: text, result: fc.option(text, { nil: null }) }),
          ),
          runtime: record,
        }),
        (p) => {
          expect(partsCanonicalJson(p)).toBe(canonicalJson(p));
        },
      ),
    );
    expect(partsCanonicalJson(parts())).toBe(canonicalJson(parts()));
  });

  it("falls back to canonicalJson for parts of another shape", () => {
    const odd = { ...parts(), code: { "a.R": 1 }, extra: [1, 2] } as unknown as FingerprintParts;
    expect(partsCanonicalJson(odd)).toBe(canonicalJson(odd));
    const noResult = {
      ...parts(),
      upstream: { a: { outputs: "o" } },
    } as unknown as FingerprintParts;
    expect(partsCanonicalJson(noResult)).toBe(canonicalJson(noResult));
  });
});

describe("diffParts and describeChange", () => {
  it("reports nothing for equal parts", () => {
    expect(diffParts(parts(), parts())).toEqual([]);
  });

  it("names each changed, added and removed code file", () => {
    const after = parts({ code: { "B/run.R": "c1b", "B/new.R": "c3" } });
    expect(diffParts(parts(), after)).toEqual([
      { part: "code", key: "B/new.R", after: "c3" },
      { part: "code", key: "B/run.R", before: "c1", after: "c1b" },
      { part: "code", key: "B/util.R", before: "c2" },
    ]);
    expect(reasons(parts(), after)).toEqual([
      "code file added: B/new.R",
      "code changed: B/run.R",
      "code file removed: B/util.R",
    ]);
  });

  it("says an input changed, went missing or was added", () => {
    const after = parts({ inputs: { "data/a.csv": "i1b", "data/c.csv": "i3" } });
    expect(reasons(parts(), after)).toEqual([
      "input changed: data/a.csv",
      "input missing: data/b.csv",
      "input added: data/c.csv",
    ]);
  });

  it("tells an upstream output change from an upstream result change", () => {
    const outputs = parts({
      upstream: {
        extract: { outputs: "o1b", result: "r1" },
        load: { outputs: "o2", result: "r2" },
      },
    });
    expect(reasons(parts(), outputs)).toEqual([
      "upstream output changed: extract",
      "upstream result changed: load",
    ]);
    const change = diffParts(parts(), outputs)[0]!;
    expect(change).toEqual({
      part: "upstream",
      key: "extract",
      before: '{"outputs":"o1","result":"r1"}',
      after: '{"outputs":"o1b","result":"r1"}',
    });
    const both = parts({ upstream: { extract: { outputs: "x", result: "y" } } });
    expect(reasons(parts(), both)).toEqual([
      "upstream output and result changed: extract",
      "upstream removed: load",
    ]);
    expect(reasons(both, parts())).toEqual([
      "upstream output and result changed: extract",
      "upstream added: load",
    ]);
  });

  it("reports scalar parts once and orders changes by part, then key", () => {
    const after = parts({
      definition: "d2",
      args: "a2",
      config: "c2",
      env: "e2",
      runtime: { Rscript: "4.3.0", python3: "3.12.1" },
      inputs: { "data/b.csv": "i2", "data/a.csv": "changed" },
    });
    expect(reasons(parts(), after)).toEqual([
      "definition changed",
      "args changed",
      "config changed",
      "env changed",
      "input changed: data/a.csv",
      "runtime changed: Rscript 4.2.2 → 4.3.0",
      "runtime added: python3 3.12.1",
    ]);
  });

  it("describes a runtime upgrade with both versions", () => {
    const before = parts({ runtime: { python3: "3.11.7" } });
    const after = parts({ runtime: { python3: "3.12.1" } });
    expect(reasons(before, after)).toEqual(["runtime changed: python3 3.11.7 → 3.12.1"]);
  });
});
