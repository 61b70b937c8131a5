import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { redactText, StreamRedactor, secretValues } from "../../src/tasks/redact.js";

/** Feeds `text` to a redactor cut at `cuts` (byte offsets) and returns what it wrote. */
function streamed(values: string[], text: string, cuts: number[]): string {
  const r = new StreamRedactor(values);
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    out.push(r.write(bytes.subarray(from, cut)));
    from = cut;
  }
  out.push(r.write(bytes.subarray(from)), r.end());
  return Buffer.concat(out).toString("utf8");
}

describe("StreamRedactor", () => {
  it("redacts a value split across two writes at every position", () => {
    const text = "before s3cr3t-välue after s3cr3t-välue\n";
    for (let cut = 0; cut <= Buffer.byteLength(text); cut++) {
      expect(streamed(["s3cr3t-välue"], text, [cut])).toBe("before *** after ***\n");
    }
  });

  it("writes the same as redacting the whole text, however the output is cut", () => {
    const secrets = ["abcd", "abcdef", "zzzz"];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("ab", "cd", "ef", "z", "x", "abcdef", "zzzz", "\n")),
        fc.array(fc.nat(60), { maxLength: 6 }),
        (parts, cuts) => {
          const text = parts.join("");
          const len = Buffer.byteLength(text);
          const at = cuts.map((c) => Math.min(c, len));
          expect(streamed(secrets, text, at)).toBe(redactText(text, secrets));
        },
      ),
    );
  });
});

describe("secretValues", () => {
  it("takes the declared variables' values, skipping unset and short ones", () => {
    const refs = ["A", "B", "C"].map((env) => ({ env, name: env.toLowerCase(), key: env }));
    expect(secretValues(refs, { A: "long-enough", B: "abc" })).toEqual(["long-enough"]);
  });
});
