/** One statement of a SQL file, with where it starts (for errors that point at the file). */
export interface SqlStatement {
  /** The statement's text, trimmed, without its `;`. Comments inside it are kept. */
  text: string;
  /** 1-based line and column in the file where the statement's first character is. */
  line: number;
  column: number;
  /** The names of its `$name` parameters, in order of first use, outside strings and comments. */
  params: string[];
}

type Mode = "code" | "single" | "double" | "line-comment" | "block-comment" | "dollar";

/**
 * Splits a SQL script into statements at `;`, the way kptn does for DuckDB tasks: a `;` inside a
 * '…' or "…" string, a `-- …` or `/* … *\/` comment, or a `$tag$ … $tag$` dollar-quoted string
 * does not end a statement. A piece that holds only comments is dropped. Each statement notes its
 * `$name` parameters (a `$` followed by a letter or `_`, not a dollar quote). Pure.
 */
export function splitSqlStatements(sql: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  let mode: Mode = "code";
  let dollarTag = "";
  let start = -1; // index of the current statement's first significant character
  let params: string[] = [];
  const flush = (end: number) => {
    if (start >= 0) {
      const text = sql.slice(start, end).trim();
      if (text !== "") out.push({ text, ...positionOf(sql, start), params });
    }
    start = -1;
    params = [];
  };
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1] ?? "";
    switch (mode) {
      case "single":
      case "double": {
        const quote = mode === "single" ? "'" : '"';
        if (ch === quote && next === quote) i += 2;
        else {
          if (ch === quote) mode = "code";
          i++;
        }
        continue;
      }
      case "line-comment":
        if (ch === "\n") mode = "code";
        i++;
        continue;
      case "block-comment":
        if (ch === "*" && next === "/") {
          mode = "code";
          i += 2;
        } else i++;
        continue;
      case "dollar":
        if (sql.startsWith(dollarTag, i)) {
          mode = "code";
          i += dollarTag.length;
        } else i++;
        continue;
    }
    if (ch === "-" && next === "-") {
      mode = "line-comment";
      i += 2;
      continue;
    }
    if (ch === "/" && next === "*") {
      mode = "block-comment";
      i += 2;
      continue;
    }
    if (ch === ";") {
      flush(i);
      i++;
      continue;
    }
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (start < 0) start = i;
    if (ch === "'" || ch === '"') {
      mode = ch === "'" ? "single" : "double";
      i++;
      continue;
    }
    if (ch === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag !== null) {
        mode = "dollar";
        dollarTag = tag[0];
        i += tag[0].length;
        continue;
      }
      const param = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(sql.slice(i, i + 256));
      if (param !== null) {
        if (!params.includes(param[1]!)) params.push(param[1]!);
        i += param[0].length;
        continue;
      }
    }
    i++;
  }
  flush(sql.length);
  return out;
}

function positionOf(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}
