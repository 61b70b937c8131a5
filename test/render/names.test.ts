import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assignDnsLabels, isDnsLabel, toDnsLabel } from "../../src/render/names.js";

const labelsOf = (names: string[], reserved: string[] = []) => {
  const m = assignDnsLabels(
    names.map((name) => ({ key: name, name })),
    reserved,
  );
  return names.map((n) => m.get(n)!);
};

describe("DNS-1123 names", () => {
  it("keeps names that only differ from a label by case and separators readable", () => {
    expect(labelsOf(["load_data", "Fetch.Raw", "étape-1", "2024_report"])).toEqual([
      "load-data",
      "fetch-raw",
      "etape-1",
      "t-2024-report",
    ]);
  });

  it("gives Load_Data and load.data distinct labels with a stable hash", () => {
    const [a, b] = labelsOf(["Load_Data", "load.data"]);
    expect(a).toMatch(/^load-data-[0-9a-f]{6}$/);
    expect(b).toMatch(/^load-data-[0-9a-f]{6}$/);
    expect(a).not.toEqual(b);
    // Stable: the same name gets the same label whatever else is in the graph.
    expect(labelsOf(["load.data", "x", "Load_Data"])).toEqual([b, "x", a]);
  });

  it("hashes truncated names so two long names with a common prefix stay apart", () => {
    const long = "a".repeat(80);
    const [x, y] = labelsOf([`${long}_x`, `${long}_y`]);
    expect(x).toHaveLength(63);
    expect(x!.slice(0, 56)).toBe("a".repeat(56));
    expect(x).not.toEqual(y);
  });

  it("never hands out a reserved label, and leaves room for a suffix", () => {
    expect(labelsOf(["main"], ["main"])[0]).toMatch(/^main-[0-9a-f]{6}$/);
    const m = assignDnsLabels([
      { key: "t", name: "x".repeat(70), suffix: "-items" },
      { key: "u", name: "fetch", suffix: "-items" },
    ]);
    expect(m.get("t")).toMatch(/^x{50}-[0-9a-f]{6}-items$/);
    expect(m.get("u")).toBe("fetch-items");
  });

  it("resolves a suffixed label that equals another name", () => {
    const m = assignDnsLabels([
      { key: "unit:a", name: "a" },
      { key: "items:a", name: "a", suffix: "-items" },
      { key: "unit:a-items", name: "a-items" },
    ]);
    expect(m.get("unit:a")).toBe("a");
    expect(new Set(m.values()).size).toBe(3);
  });

  it("maps names with nothing readable to a hashed label", () => {
    expect(toDnsLabel("日本")).toEqual({ label: "n", exact: false });
    expect(labelsOf(["日本", "中国"]).every((l) => /^n-[0-9a-f]{6}$/.test(l))).toBe(true);
  });

  it("gives any set of names valid, distinct labels, whatever their order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ unit: "binary", maxLength: 80 }), { maxLength: 20 }),
        (names) => {
          const labels = labelsOf(names, ["main"]);
          expect(labels.every(isDnsLabel)).toBe(true);
          expect(new Set(labels).size).toBe(names.length);
          expect(labels).not.toContain("main");
          expect(labelsOf([...names].reverse(), ["main"])).toEqual([...labels].reverse());
        },
      ),
    );
  });
});
