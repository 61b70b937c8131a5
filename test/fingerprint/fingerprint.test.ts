import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/fingerprint/canonical-json.js";
import {
  describeChange,
  diffParts,
  FAST_PATH_PARTS,
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
    config: { region: "h-eu", year: "h-2024" },
    env: { TZ: "h-utc" },
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

const text = fc.string({ unit: "binary" });
const record = fc.dictionary(text, text);
const upstreamEntry = fc.record(
  {
    outputs: text,
    result: fc.option(text, { nil: null }),
    items: fc.array(text),
  },
  { requiredKeys: ["outputs", "result"] },
);
/** Parts shaped as planned, with records sometimes frozen (as planning shares them). */
const plannedParts = fc
  .record({
    definition: text,
    code: record,
    args: text,
    config: record,
    env: record,
    inputs: record,
    upstream: fc.dictionary(text, upstreamEntry),
    runtime: record,
  })
  .chain((p) =>
    fc.boolean().map((freeze) => {
      if (!freeze) return p;
      for (const v of Object.values(p.upstream)) if (v.items) Object.freeze(v.items);
      return { ...p, code: Object.freeze(p.code), config: Object.freeze(p.config) };
    }),
  );

describe("partsCanonicalJson", () => {
  it("is canonicalJson of the parts, for any keys and values", () => {
    fc.assert(
      fc.property(plannedParts, (p) => {
        expect(partsCanonicalJson(p)).toBe(canonicalJson(p));
        // A second time through the memo of frozen records: still the same.
        expect(partsCanonicalJson(p)).toBe(canonicalJson(p));
      }),
      { seed: 11, numRuns: 300 },
    );
    expect(partsCanonicalJson(parts())).toBe(canonicalJson(parts()));
  });

  it("is canonicalJson of any object at all, whatever parts it has or lacks", () => {
    // Any part the fast path did not know of (a new part, an extra field, a missing one) must
    // reach the generic walk rather than be dropped from the fingerprint.
    const anyValue = fc.jsonValue();
    const partName = fc.constantFrom(...FAST_PATH_PARTS, "items", "extra", "secrets");
    fc.assert(
      fc.property(
        plannedParts,
        fc.dictionary(partName, anyValue),
        fc.array(partName),
        (p, over, drop) => {
          const mixed: Record<string, unknown> = { ...p, ...over };
          for (const k of drop) delete mixed[k];
          const q = mixed as unknown as FingerprintParts;
          expect(partsCanonicalJson(q)).toBe(canonicalJson(q));
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });

  it("writes every part of FingerprintParts (a new part needs a writer)", () => {
    // Typed as FingerprintParts, this literal must name every part: adding one to the interface
    // fails to compile here until it is added, and then fails below until the fast path writes it.
    const all: Required<FingerprintParts> = {
      definition: "d",
      code: {},
      args: "a",
      config: {},
      env: {},
      inputs: {},
      upstream: {},
      runtime: {},
    };
    expect([...FAST_PATH_PARTS].sort()).toEqual(Object.keys(all).sort());
    expect(Object.keys(JSON.parse(partsCanonicalJson(all)) as object)).toEqual(
      Object.keys(all).sort(),
    );
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

  it("never serves a stale memo: only frozen records are remembered", () => {
    const config: Record<string, string> = { region: "h1" };
    const p = parts({ config });
    const first = partsCanonicalJson(p);
    config.region = "h2";
    expect(partsCanonicalJson(p)).not.toBe(first);
    expect(partsCanonicalJson(p)).toBe(canonicalJson(p));
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

  it("names the Python function, class or name whose source changed, or is now (no longer) used", () => {
    const before = parts({
      code: { "t/x.py::function f": "1", "t/x.py::function h": "2", "t/x.py::name RATE": "3" },
    });
    const after = parts({
      code: { "t/x.py::function f": "1", "t/x.py::function h": "2b", "t/x.py::class M": "4" },
    });
    expect(reasons(before, after)).toEqual([
      "code: class M in t/x.py now used",
      "code: function h in t/x.py changed",
      "code: name RATE in t/x.py no longer used",
    ]);
    const imports = parts({ code: { "t/x.py::imports": "5" } });
    expect(reasons(imports, parts({ code: { "t/x.py::imports": "6" } }))).toEqual([
      "code: imports of t/x.py changed",
    ]);
  });

  it("says once per file when its fingerprint scheme changed, whole file against per function", () => {
    const whole = parts({ code: { "t/x.py": "1", "t/util.py": "2" } });
    const pieces = parts({
      code: { "t/x.py::function f": "3", "t/x.py::imports": "4", "t/util.py": "2" },
    });
    expect(diffParts(whole, pieces)).toEqual([{ part: "code", key: "t/x.py", scheme: "function" }]);
    expect(reasons(whole, pieces)).toEqual([
      "code: t/x.py now fingerprinted per function (fingerprint scheme changed)",
    ]);
    expect(reasons(pieces, whole)).toEqual(["code: t/x.py now fingerprinted as a whole file"]);
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
      config: { region: "h-us", year: "h-2024" },
      env: { TZ: "h-cet" },
      runtime: { Rscript: "4.3.0", python3: "3.12.1" },
      inputs: { "data/b.csv": "i2", "data/a.csv": "changed" },
    });
    expect(reasons(parts(), after)).toEqual([
      "definition changed",
      "args changed",
      "config changed: region",
      "env changed: TZ",
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

  it("names the config keys and env vars that changed, were added or were removed", () => {
    const after = parts({
      config: { region: "h-us", db: "h-db" },
      env: { LANG: "h-c", TZ: "h-utc" },
    });
    expect(reasons(parts(), after)).toEqual([
      "config added: db",
      "config changed: region",
      "config removed: year",
      "env added: LANG",
    ]);
  });

  it("says only that config changed against a record from before config keys were kept", () => {
    const old = {
      ...parts(),
      config: "one-hash",
      env: "other-hash",
    } as unknown as FingerprintParts;
    expect(reasons(old, parts())).toEqual(["config changed", "env changed"]);
    expect(diffParts(old, parts())[0]).toEqual({ part: "config", before: "one-hash" });
  });

  it("names the items added to or removed from a mapped upstream task", () => {
    const withItems = (items: string[], outputs = "o1") =>
      parts({ upstream: { states: { outputs, result: null, items } } });
    expect(reasons(withItems(["NC", "SC"]), withItems(["NC", "VA", "TX"]))).toEqual([
      "items of states changed: +VA, +TX, -SC",
    ]);
    expect(reasons(withItems(["NC"]), withItems(["NC", "SC"], "o2"))).toEqual([
      "upstream output changed: states; items of states changed: +SC",
    ]);
    expect(reasons(withItems(["NC", "SC"]), withItems(["SC", "NC"]))).toEqual([
      "items of states changed: reordered",
    ]);
    const many = Array.from({ length: 8 }, (_, i) => `K${i}`);
    expect(reasons(withItems([]), withItems(many))).toEqual([
      "items of states changed: +K0, +K1, +K2, +K3, +K4, +3 more",
    ]);
  });
});
