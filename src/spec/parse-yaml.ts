import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  visit,
  type YAMLMap,
} from "yaml";
import type { Diagnostic, SourceLocation } from "./diagnostic.js";

/** Limits that keep a hostile or broken spec from exhausting memory or the stack. */
export const YAML_LIMITS = {
  /** Bytes. Real pipeline specs are a few KiB; 4 MiB leaves room for generated ones. */
  maxBytes: 4 * 1024 * 1024,
  /** Nesting depth of maps and sequences. */
  maxDepth: 64,
  /** Alias expansions per document (the "billion laughs" defence). */
  maxAliasCount: 100,
} as const;

const STANDARD_TAGS = new Set(
  ["str", "int", "float", "bool", "null", "seq", "map"].map((t) => `tag:yaml.org,2002:${t}`),
);

/**
 * Maps field paths of a parsed YAML document back to file positions, so diagnostics found on the
 * plain data (by zod or by graph checks) can still point at file:line:column.
 */
export class SourceMap {
  constructor(
    readonly file: string,
    private readonly doc: Document.Parsed | undefined,
    private readonly lines: LineCounter,
  ) {}

  /** The position of the value at `path`, or of its nearest existing ancestor. */
  locate(path: readonly (string | number)[]): SourceLocation {
    return this.position(this.find(path, false));
  }

  /** The position of the key that holds `path` (better for "unknown field" problems). */
  locateKey(path: readonly (string | number)[]): SourceLocation {
    return this.position(this.find(path, true));
  }

  private find(path: readonly (string | number)[], wantKey: boolean): Node | undefined {
    let node: unknown = this.doc?.contents ?? undefined;
    let found: Node | undefined = node as Node | undefined;
    for (let i = 0; i < path.length; i++) {
      const part = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = this.pairOf(node, String(part));
        if (!pair) return found;
        if (last && wantKey && pair.key) return pair.key as Node;
        node = pair.value;
        // `key:` with no value has a null value node; fall back to the key's position.
        found =
          (isScalar(node) || isMap(node) || isSeq(node) || isAlias(node)) && (node as Node).range
            ? (node as Node)
            : (pair.key as Node);
      } else if (isSeq(node) && typeof part === "number") {
        const item = node.items[part];
        if (item === undefined || isPair(item)) return found;
        node = item;
        found = item as Node;
      } else {
        return found;
      }
    }
    return found;
  }

  /** Key lookup in a mapping through a per-mapping index (locating every task must not be O(n²)). */
  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    let index = this.index.get(map);
    if (index === undefined) {
      index = new Map();
      for (const p of map.items)
        if (isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
      this.index.set(map, index);
    }
    return index.get(key);
  }

  private readonly index = new WeakMap<YAMLMap, Map<string, Pair>>();

  private position(node: Node | undefined): SourceLocation {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, column: col };
  }
}

/** What parsing a YAML spec yields: the plain value, the position map and any problems. */
export interface ParsedYaml {
  value: unknown;
  sourceMap: SourceMap;
  diagnostics: Diagnostic[];
}

/**
 * Parses one YAML document defensively: duplicate keys, custom tags, alias bombs, oversized and
 * too deeply nested input are reported as diagnostics (never thrown), each with its position.
 */
export function parseYaml(text: string, file: string): ParsedYaml {
  const lines = new LineCounter();
  const diagnostics: Diagnostic[] = [];
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > YAML_LIMITS.maxBytes) {
    const sourceMap = new SourceMap(file, undefined, lines);
    diagnostics.push({
      severity: "error",
      kind: "file-too-large",
      path: "",
      location: { file, line: 1, column: 1 },
      message: `the file is ${bytes} bytes; specs are limited to ${YAML_LIMITS.maxBytes} bytes`,
      hint: "split the pipeline into smaller specs, or move data out of the spec into input files",
    });
    return { value: undefined, sourceMap, diagnostics };
  }

  // Duplicate keys are found below in one pass: the library's own check compares every key with
  // every earlier one, minutes for a 100,000-task spec. Merge keys (`<<`) are refused below.
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: false,
    merge: false,
    prettyErrors: false,
    schema: "core",
  });
  const sourceMap = new SourceMap(file, doc, lines);
  const at = (offset: number): SourceLocation => {
    const { line, col } = lines.linePos(offset);
    return { file, line, column: col };
  };

  for (const err of doc.errors) {
    diagnostics.push({
      severity: "error",
      kind: "yaml-syntax",
      path: "",
      location: at(err.pos[0]),
      message: `invalid YAML: ${firstLine(err.message)}`,
      hint: "check indentation and quoting around this position",
    });
  }

  let tooDeep = false;
  visit(doc, {
    Node(_key, node, path) {
      if (
        !tooDeep &&
        (isMap(node) || isSeq(node)) &&
        path.filter((n) => isMap(n) || isSeq(n)).length >= YAML_LIMITS.maxDepth
      ) {
        tooDeep = true;
        diagnostics.push({
          severity: "error",
          kind: "too-deep",
          path: "",
          location: at(node.range?.[0] ?? 0),
          message: `nesting is deeper than ${YAML_LIMITS.maxDepth} levels`,
          hint: "flatten this structure; pipeline specs never need this depth",
        });
        return visit.BREAK;
      }
      if (isMap(node)) checkKeys(node, at, diagnostics);
      const tag = (node as { tag?: string }).tag;
      if (tag !== undefined && !STANDARD_TAGS.has(tag)) {
        diagnostics.push({
          severity: "error",
          kind: "custom-tag",
          path: "",
          location: at(node.range?.[0] ?? 0),
          message: `custom YAML tag ${tag.startsWith("tag:yaml.org,2002:") ? `!!${tag.slice(18)}` : tag} is not allowed`,
          hint: "remove the tag; specs hold plain data only (strings, numbers, booleans, lists, maps)",
        });
      }
      return undefined;
    },
  });

  if (diagnostics.length > 0) return { value: undefined, sourceMap, diagnostics };

  try {
    const value = doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasCount });
    return { value, sourceMap, diagnostics };
  } catch (err) {
    diagnostics.push({
      severity: "error",
      kind: "alias-bomb",
      path: "",
      location: { file, line: 1, column: 1 },
      message: `the document expands too many aliases (${(err as Error).message.split("\n")[0]})`,
      hint: `use at most ${YAML_LIMITS.maxAliasCount} alias expansions (*name); write repeated structures out`,
    });
    return { value: undefined, sourceMap, diagnostics };
  }
}

/** Duplicate keys of one mapping, each naming the first occurrence, and merge keys (`<<`). */
function checkKeys(
  map: YAMLMap,
  at: (offset: number) => SourceLocation,
  diagnostics: Diagnostic[],
): void {
  const first = new Map<string, number>();
  for (const pair of map.items) {
    if (!isScalar(pair.key)) continue;
    const offset = pair.key.range?.[0] ?? 0;
    const key = String(pair.key.value);
    if (key === "<<" && pair.key.type === "PLAIN") {
      diagnostics.push({
        severity: "error",
        kind: "merge-key",
        path: "",
        location: at(offset),
        message: "YAML merge keys (`<<: *anchor`) are not allowed",
        hint: "write the fields out; to share tasks between graphs, use a graph's `extends`",
      });
      continue;
    }
    const earlier = first.get(key);
    if (earlier === undefined) {
      first.set(key, offset);
      continue;
    }
    const { line, column } = at(earlier);
    diagnostics.push({
      severity: "error",
      kind: "duplicate-key",
      path: "",
      location: at(offset),
      message: `duplicate key ${JSON.stringify(key)}: already at line ${line}, column ${column}`,
      hint: "remove or rename one of the two entries (YAML keeps neither reliably)",
    });
  }
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}
