import type { z } from "zod";
import { type Diagnostic, formatPath, type SourceLocation } from "./diagnostic.js";
import { didYouMean } from "./did-you-mean.js";
import type { SourceMap } from "./parse-yaml.js";
import { KNOWN_KEYS } from "./schema.js";

type Path = (string | number)[];

/** Describes a received value for "expected X, received Y" messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null (empty)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `the string ${JSON.stringify(shown)}`;
  }
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Which known-key list applies to the object at `path`, for "did you mean" on unknown fields. */
function knownKeysAt(path: readonly PropertyKey[]): readonly string[] {
  const [a, , c, , e] = path;
  switch (path.length) {
    case 0:
      return KNOWN_KEYS.root;
    case 1:
      return a === "settings" ? KNOWN_KEYS.settings : [];
    case 2:
      if (a === "tasks") return KNOWN_KEYS.task;
      if (a === "graphs") return KNOWN_KEYS.graph;
      if (a === "environments") return KNOWN_KEYS.environment;
      if (a === "settings") return ["file"];
      return [];
    case 3:
      if (a === "tasks" && c === "compute") return KNOWN_KEYS.compute;
      if (a === "tasks" && c === "execution") return ["mode"];
      return [];
    case 4:
      if (a === "graphs" && c === "tasks") return KNOWN_KEYS.entry;
      if (a === "graphs" && c === "extends") return KNOWN_KEYS.extends;
      if (a === "tasks" && c === "secrets") return KNOWN_KEYS.secret;
      if (a === "tasks" && c === "outputs") return ["path", "in_place"];
      return e === undefined ? [] : [];
    default:
      return [];
  }
}

function toPath(path: readonly PropertyKey[]): Path {
  return path.map((p) => (typeof p === "number" ? p : String(p)));
}

/**
 * Turns zod issues into diagnostics with positions, expected vs received, and a fix. Union issues
 * carry the union's own message (what shapes are accepted) rather than each branch's complaint.
 */
export function zodIssuesToDiagnostics(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  sourceMap: SourceMap,
): Diagnostic[] {
  return issues.flatMap((issue) => issueDiagnostics(issue, data, sourceMap));
}

/** Where an issue is, and the value found there. */
interface IssueAt {
  path: Path;
  received: unknown;
  /** The fields every diagnostic of the issue starts with. */
  base: { severity: "error"; path: string; location: SourceLocation };
  sourceMap: SourceMap;
}

function issueDiagnostics(
  issue: z.core.$ZodIssue,
  data: unknown,
  sourceMap: SourceMap,
): Diagnostic[] {
  const path = toPath(issue.path);
  const at: IssueAt = {
    path,
    received: valueAt(data, issue.path),
    base: { severity: "error", path: formatPath(path), location: sourceMap.locate(path) },
    sourceMap,
  };
  const { base, received } = at;
  switch (issue.code) {
    case "unrecognized_keys":
      return unknownFields(issue, at);
    case "invalid_type":
      return [invalidType(issue, at)];
    case "invalid_union":
      return unionIssue(issue, data, at);
    case "invalid_value":
      return [invalidValue(issue, at)];
    case "too_small":
    case "too_big":
      return [outOfBounds(issue, at)];
    case "invalid_key": {
      const bad = String(path[path.length - 1] ?? "");
      return [
        {
          ...base,
          kind: "invalid-name",
          location: sourceMap.locateKey(path),
          message: `invalid name ${JSON.stringify(bad)}: ${issue.issues[0]?.message ?? issue.message}`,
        },
      ];
    }
    default:
      return [
        {
          ...base,
          kind: "invalid-value",
          message: `${issue.message}, received ${describeValue(received)}`,
        },
      ];
  }
}

function unknownFields(issue: z.core.$ZodIssueUnrecognizedKeys, at: IssueAt): Diagnostic[] {
  const known = knownKeysAt(issue.path);
  return issue.keys.map((key) => {
    const keyPath = [...at.path, key];
    return {
      severity: "error",
      kind: "unknown-field",
      path: formatPath(keyPath),
      location: at.sourceMap.locateKey(keyPath),
      message: `unknown field "${key}".${didYouMean(key, known)}`.replace(/\.$/, ""),
      hint: known.length > 0 ? `known fields here: ${known.join(", ")}` : "remove this field",
    };
  });
}

function invalidType(issue: z.core.$ZodIssueInvalidType, at: IssueAt): Diagnostic {
  const { path, base, received } = at;
  if (received === undefined) {
    const field = path[path.length - 1];
    return {
      ...base,
      kind: "missing-field",
      location: at.sourceMap.locate(path.slice(0, -1)),
      message: `missing required field "${String(field)}" (expected ${issue.expected})`,
      hint: `add "${String(field)}:"`,
    };
  }
  return {
    ...base,
    kind: "invalid-type",
    message: `expected ${issue.expected}, received ${describeValue(received)}`,
  };
}

function unionIssue(issue: z.core.$ZodIssueInvalidUnion, data: unknown, at: IssueAt): Diagnostic[] {
  // When exactly one branch matched the value's type (its complaints are about nested
  // fields), report those: `{deps: 3}` is about `deps`, not "not a name or a list".
  const nested = issue.errors.filter(
    (branch) => branch.length > 0 && branch.every((i) => i.path.length > 0),
  );
  if (nested.length === 1) {
    const inner = nested[0]!.map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
    return zodIssuesToDiagnostics(inner, data, at.sourceMap);
  }
  return [
    {
      ...at.base,
      kind: "invalid-value",
      message: `${issue.message}, received ${describeValue(at.received)}`,
    },
  ];
}

function invalidValue(issue: z.core.$ZodIssueInvalidValue, at: IssueAt): Diagnostic {
  const { received } = at;
  const allowed = issue.values.map((v) => JSON.stringify(v));
  const hint =
    typeof received === "string" ? didYouMean(received, issue.values.map(String)).trim() : "";
  return {
    ...at.base,
    kind: "invalid-value",
    message: `expected ${allowed.length === 1 ? allowed[0] : `one of ${allowed.join(", ")}`}, received ${describeValue(received)}`,
    ...(hint ? { hint } : {}),
  };
}

function outOfBounds(
  issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig,
  at: IssueAt,
): Diagnostic {
  const op =
    issue.code === "too_small" ? (issue.inclusive ? "≥" : ">") : issue.inclusive ? "≤" : "<";
  const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
  const what =
    issue.origin === "string"
      ? `a string of length ${op} ${String(bound)}`
      : issue.origin === "array"
        ? `a list of length ${op} ${String(bound)}`
        : `a number ${op} ${String(bound)}`;
  return {
    ...at.base,
    kind: "invalid-value",
    message: `expected ${what}, received ${describeValue(at.received)}`,
  };
}
