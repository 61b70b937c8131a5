// Issue 14: no function in src/exec/ over ~100 lines, so each stays readable on its own. Counts
// every function, method, arrow function and accessor, nested ones included (a nested function
// counts toward its parent too).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const MAX_LINES = 100;
const DIR = path.join(import.meta.dirname, "..", "..", "src", "exec");

function longFunctions(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      const name = node.name?.getText(source) ?? "(anonymous)";
      if (lines > MAX_LINES)
        found.push(`${path.basename(file)}:${start + 1} ${name}: ${lines} lines`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("src/exec", () => {
  it(`has no function over ${MAX_LINES} lines`, () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith(".ts"));
    expect(files.flatMap((f) => longFunctions(path.join(DIR, f)))).toEqual([]);
  });
});
