import { describe, expect, it } from "vitest";
import { splitSqlStatements } from "../../src/spec/sql-statements.js";

const texts = (sql: string) => splitSqlStatements(sql).map((s) => s.text);

describe("splitSqlStatements", () => {
  it("splits at ';' and trims, keeping a last statement without one", () => {
    expect(texts("create table a (x int);\n  insert into a values (1) ;\nselect 1")).toEqual([
      "create table a (x int)",
      "insert into a values (1)",
      "select 1",
    ]);
  });

  it("does not split at a ';' inside strings, quoted names, comments or dollar quotes", () => {
    const sql = [
      "select 'a;b', 'it''s;' as \"c;d\"; -- end; here",
      "/* a; block */ select $$x;y$$, $tag$ z; $tag$;",
    ].join("\n");
    expect(texts(sql)).toEqual([
      "select 'a;b', 'it''s;' as \"c;d\"",
      "select $$x;y$$, $tag$ z; $tag$",
    ]);
  });

  it("drops pieces that hold only comments or blanks", () => {
    expect(texts("-- header only;\n;\n/* nothing */ ;\n  ;select 2;")).toEqual(["select 2"]);
  });

  it("gives the line and column where each statement starts, after leading comments", () => {
    const s = splitSqlStatements(
      "-- intro\n\n  create table t as\n  select 1;\nselect 2; select 3",
    );
    expect(s.map((x) => [x.line, x.column])).toEqual([
      [3, 3],
      [5, 1],
      [5, 11],
    ]);
  });

  it("names each statement's $parameters once, outside strings and comments", () => {
    const s = splitSqlStatements(
      "select $a, $b_2 + $a, '$not', \"$no\" -- $nope\n; select $$ $x $$, $c",
    );
    expect(s.map((x) => x.params)).toEqual([["a", "b_2"], ["c"]]);
  });
});
