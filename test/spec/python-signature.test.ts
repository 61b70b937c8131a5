import { describe, expect, it } from "vitest";
import { pythonSignature } from "../../src/spec/python-signature.js";

describe("pythonSignature", () => {
  it("reads positional-only, *args, keyword-only, **kwargs and defaults, with annotations", () => {
    const src = [
      '"""def f(nope): in a docstring"""',
      "async def f(a, b: int = 1, /, c: dict[str, int] = {'k': 1}, *rest,",
      "            d=lambda x: x == 1, e: 'Literal[\"=\"]', **kw) -> None:",
      "    pass",
    ].join("\n");
    expect(pythonSignature(src, "f")).toEqual({
      line: 2,
      params: [
        { name: "a", kind: "positional-only", hasDefault: false },
        { name: "b", kind: "positional-only", hasDefault: true },
        { name: "c", kind: "positional-or-keyword", hasDefault: true },
        { name: "rest", kind: "var-positional", hasDefault: false },
        { name: "d", kind: "keyword-only", hasDefault: true },
        { name: "e", kind: "keyword-only", hasDefault: false },
        { name: "kw", kind: "var-keyword", hasDefault: false },
      ],
    });
  });

  it("reads a bare * as the start of keyword-only parameters", () => {
    expect(pythonSignature("def f(a, *, b):\n    pass\n", "f")).toMatchObject({
      params: [
        { name: "a", kind: "positional-or-keyword" },
        { name: "b", kind: "keyword-only" },
      ],
    });
  });

  it("skips a decorated function, even with a decorator over several lines", () => {
    expect(pythonSignature("@wrap(\n    1,\n)\n# note\ndef f(a):\n    pass\n", "f")).toBe(
      "decorated",
    );
  });

  it("does not guess for a name defined twice, rebound, or not defined by a def", () => {
    expect(pythonSignature("def f(a):\n    pass\ndef f(b):\n    pass\n", "f")).toBe("unknown");
    expect(pythonSignature("def f(a):\n    pass\nf = other(f)\n", "f")).toBe("unknown");
    expect(pythonSignature("from x import f\n", "f")).toBe("unknown");
    expect(pythonSignature("class f:\n    def __init__(self, a):\n        pass\n", "f")).toBe(
      "unknown",
    );
  });
});
