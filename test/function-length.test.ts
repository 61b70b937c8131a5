// No function in src/ over ~100 lines, so each stays readable on its own (STYLE.md; issue 14 began
// it for src/exec). Counts every function, method, arrow function, constructor and accessor,
// nested ones included (a nested function counts toward its parent too).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const MAX_LINES = 100;
const SRC = path.join(import.meta.dirname, "..", "src");

/** Each function of `file` over MAX_LINES, as `src/path:line name: N lines`. */
function longFunctions(file: string): string[] {
  const text = readFileSync(path.join(SRC, file), "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      const name = node.name?.getText(source) ?? "(anonymous)";
      if (lines > MAX_LINES) found.push(`src/${file}:${start + 1} ${name}: ${lines} lines`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.split(path.sep).join("/"))
    .sort();
}

describe("src/", () => {
  const long = sourceFiles().flatMap(longFunctions);

  it(`has no function over ${MAX_LINES} lines (split it into named steps)`, () => {
    expect(long).toEqual([]);
  });
});
