import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { toYaml } from "../../src/render/quote.js";

describe("toYaml", () => {
  it("quotes words YAML 1.1 would not read as strings, so they round-trip under 1.1 and 1.2", () => {
    // e0755 was found by the property test: a YAML 1.1 reader took it for a float (NaN).
    const words = ["e0755", "E10", "yes", "off", "0755", "1e3", "null", "~", "-", "a: b", "#x"];
    const text = toYaml({ words });
    for (const version of ["1.1", "1.2"] as const)
      expect(parse(text, { version })).toEqual({ words });
    expect(text).toContain('"e0755"');
  });

  it("leaves plainly safe words unquoted", () => {
    expect(toYaml({ image: "ghcr.io/example/app", name: "e0755x" })).toBe(
      "image: ghcr.io/example/app\nname: e0755x\n",
    );
  });
});
