import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fillVars, tokenizeArgs } from "../../src/tasks/tokenize-args.js";

describe("tokenizeArgs", () => {
  const vars = { item: "NC", YEAR: "2024", SPACED: "New York", QUOTE: `it's "x"` };

  it.each([
    { text: "", words: [] },
    { text: "  a   b\tc\n", words: ["a", "b", "c"] },
    {
      text: `--name "two words" 'single $HOME' plain`,
      words: ["--name", "two words", "single $HOME", "plain"],
    },
    { text: `a"b c"d`, words: ["ab cd"] },
    { text: `"" ''`, words: ["", ""] },
    { text: `"esc \\" \\\\ \\$ \\n"`, words: [`esc " \\ $ \\n`] },
    { text: `a\\ b \\'c`, words: ["a b", "'c"] },
    { text: "$HOME * ~ ; | $(x)", words: ["$HOME", "*", "~", ";", "|", "$(x)"] },
    { text: "--state=${item} ${YEAR}", words: ["--state=NC", "2024"] },
    { text: "${SPACED} x", words: ["New York", "x"] },
    { text: `"\${QUOTE}" \${QUOTE}`, words: [`it's "x"`, `it's "x"`] },
    { text: `'\${item}' \\\${item}`, words: ["${item}", "${item}"] },
  ])("splits $text", ({ text, words }) => {
    expect(tokenizeArgs(text, vars)).toEqual(words);
  });

  it.each([
    { text: `"open`, message: `unterminated double quote in "\\"open"` },
    { text: `'open`, message: `unterminated single quote in "'open"` },
    { text: "${open", message: `unterminated \${ in "\${open"` },
    { text: "${1x}", message: `invalid variable name "1x" in "\${1x}"` },
    {
      text: "a ${MISSING}",
      message: `\${MISSING} is not set (neither an item value nor an environment variable) in "a \${MISSING}"`,
    },
  ])("rejects $text", ({ text, message }) => {
    expect(() => tokenizeArgs(text, vars)).toThrow(message);
  });

  it("gives back any argv that was single-quoted and joined", () => {
    fc.assert(
      fc.property(fc.array(fc.string()), (argv) => {
        const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
        expect(tokenizeArgs(quoted)).toEqual(argv);
      }),
    );
  });

  it("never splits or re-reads a substituted value", () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        expect(tokenizeArgs("x ${V} y", { V: value })).toEqual(["x", value, "y"]);
      }),
    );
  });
});

describe("fillVars", () => {
  it("fills every ${NAME} and names a missing one", () => {
    expect(fillVars("R/${state}/${state}.R", { state: "NC" })).toBe("R/NC/NC.R");
    expect(() => fillVars("R/${nope}.R", {})).toThrow("${nope} is not set");
  });
});
