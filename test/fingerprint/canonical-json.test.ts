import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/fingerprint/canonical-json.js";
import { hashString } from "../../src/fingerprint/hash-string.js";
import { hashValue } from "../../src/fingerprint/hash-value.js";

/** The same value with every object's keys inserted in a shuffled order (own `__proto__` kept). */
function reorder(value: unknown, rand: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, rand));
  if (typeof value !== "object" || value === null) return value;
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    Object.defineProperty(out, k, {
      value: reorder((value as Record<string, unknown>)[k], rand),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

describe("canonicalJson", () => {
  it("sorts keys at every depth and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it("drops undefined properties but keeps array positions", () => {
    expect(canonicalJson({ a: undefined, b: [1, undefined, 2] })).toBe('{"b":[1,null,2]}');
  });

  it("is invariant to the order keys were inserted in", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        let s = seed;
        const rand = () => {
          s = (s * 1103515245 + 12345) & 0x7fffffff;
          return s / 0x80000000;
        };
        expect(canonicalJson(reorder(value, rand))).toBe(canonicalJson(value));
      }),
    );
  });

  it("reads back as the same JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it("gives different hashes to values whose canonical JSON differs", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(canonicalJson(a) !== canonicalJson(b));
        expect(hashValue(a)).not.toBe(hashValue(b));
      }),
    );
  });

  it("hashes a value as the sha256 of its canonical JSON", () => {
    expect(hashValue({ b: 2, a: 1 })).toBe(hashString('{"a":1,"b":2}'));
    expect(hashString("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hashString(Buffer.from("abc"))).toBe(hashString("abc"));
  });

  it("rejects a function and names its path", () => {
    expect(() => canonicalJson({ args: { when: () => 1 } })).toThrow(
      new TypeError("args.when: cannot fingerprint a function"),
    );
  });

  it.each([
    {
      name: "a symbol",
      value: { a: [1, Symbol("s")] },
      message: "a[1]: cannot fingerprint a symbol",
    },
    {
      name: "a bigint",
      value: { "odd key": 1n },
      message: '["odd key"]: cannot fingerprint a bigint; convert it to a string',
    },
    {
      name: "NaN",
      value: { x: Number.NaN },
      message: "x: cannot fingerprint a non-finite number (NaN)",
    },
    {
      name: "Infinity",
      value: [Number.POSITIVE_INFINITY],
      message: "[0]: cannot fingerprint a non-finite number (Infinity)",
    },
    {
      name: "a Map",
      value: { m: new Map() },
      message: "m: cannot fingerprint a Map; convert it to an object or array",
    },
    {
      name: "a top-level function",
      value: () => 1,
      message: "(root): cannot fingerprint a function",
    },
  ])("rejects $name with its path", ({ value, message }) => {
    expect(() => canonicalJson(value)).toThrow(new TypeError(message));
  });

  it("rejects a cycle but accepts a shared reference", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const loop: Record<string, unknown> = { a: {} };
    (loop.a as Record<string, unknown>).back = loop;
    expect(() => canonicalJson(loop)).toThrow(
      new TypeError("a.back: cannot fingerprint a cycle (the value contains itself)"),
    );
  });

  it("uses toJSON, so a Date is its ISO string", () => {
    expect(canonicalJson({ at: new Date(0) })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });
});
