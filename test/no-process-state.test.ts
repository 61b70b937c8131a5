// Issue 14: nothing in src/ changes the process's working directory or environment. Several
// projects, runs and worker jobs share one process (a worker, serve mode, a library caller): a
// directory or variable set for one would leak into the others. Working directory and environment
// are passed per call instead.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = path.join(import.meta.dirname, "..", "src");

/** `process.env`, `process.env.X` or `process.env[X]`. */
function isProcessEnv(node: ts.Node): boolean {
  const text = node.getText().replace(/\s+/g, "");
  return /^process\.env(\.[\w$]+|\[.*\])?$/.test(text);
}

/** Where a file changes the process's working directory or environment. */
function processWrites(file: string, text = readFileSync(file, "utf8")): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const at = (node: ts.Node, what: string) => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    found.push(`${path.relative(SRC, file)}:${line} ${what}`);
  };
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression.getText(source).replace(/\s+/g, "");
      if (callee === "process.chdir") at(node, "process.chdir");
      const first = node.arguments[0];
      if (
        /^(Object\.assign|Object\.defineProperty|Reflect\.set|Reflect\.deleteProperty)$/.test(
          callee,
        ) &&
        first !== undefined &&
        isProcessEnv(first)
      )
        at(node, `${callee}(process.env…)`);
    }
    if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
      node.operatorToken.kind <= ts.SyntaxKind.LastAssignment &&
      isProcessEnv(node.left)
    )
      at(node, `assigns ${node.left.getText(source)}`);
    if (ts.isDeleteExpression(node) && isProcessEnv(node.expression))
      at(node, `deletes ${node.expression.getText(source)}`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

describe("src/", () => {
  it("never changes the process's working directory or environment", () => {
    expect(tsFiles(SRC).flatMap((f) => processWrites(f))).toEqual([]);
  });

  it("would name such a change (the check itself)", () => {
    const text = [
      "process.chdir(root);",
      "process.env.FOO = 'x';",
      'process.env["BAR"] ??= "y";',
      "delete process.env.BAZ;",
      "Object.assign(process.env, extra);",
      "const ok = process.env.QUX ?? cwd;",
    ].join("\n");
    expect(processWrites(path.join(SRC, "probe.ts"), text)).toEqual([
      "probe.ts:1 process.chdir",
      "probe.ts:2 assigns process.env.FOO",
      'probe.ts:3 assigns process.env["BAR"]',
      "probe.ts:4 deletes process.env.BAZ",
      "probe.ts:5 Object.assign(process.env…)",
    ]);
  });
});
