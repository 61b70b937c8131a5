import { readFileSync } from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { checkOutputOwners } from "./check-output-owners.js";
import { checkPatternVars } from "./check-pattern-vars.js";
import { checkTaskFunctions } from "./check-task-functions.js";
import type { Diagnostic } from "./diagnostic.js";
import { DagwrightError, SpecError } from "./errors.js";
import { findSpecFile } from "./find-spec-file.js";
import { kptn02Problem } from "./kptn-v02.js";
import { normalizeSpec } from "./normalize-spec.js";
import type { SourceMap } from "./parse-yaml.js";
import { parseYaml, YAML_LIMITS } from "./parse-yaml.js";
import {
  graphSchema,
  type SpecFile,
  settingsSchema,
  specRootSchema,
  taskSchema,
} from "./schema.js";
import { directSpecFiles, type SpecFiles } from "./spec-files.js";
import type { Spec } from "./types.js";
import { zodIssuesToDiagnostics } from "./zod-diagnostics.js";

/** Result of {@link loadSpecWithDiagnostics}: the spec when it has no errors, and every problem. */
export interface LoadResult {
  /** Absolute path of the spec file read. */
  file: string;
  spec: Spec | undefined;
  diagnostics: Diagnostic[];
  /** Tasks and graphs whose own shape is invalid: left out of `spec`, already reported. */
  broken?: BrokenParts;
}

/** Names of tasks and graphs that failed their shape check (so later checks do not re-report them). */
export interface BrokenParts {
  tasks: ReadonlySet<string>;
  graphs: ReadonlySet<string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Shape-checks the top level, then each task and graph on its own, so that every problem in the
 * file is reported in one pass and the valid parts can still be checked further.
 */
function checkShape(
  value: Record<string, unknown>,
  sourceMap: SourceMap,
): { data: SpecFile; diagnostics: Diagnostic[]; broken: BrokenParts } {
  const diagnostics: Diagnostic[] = [];
  const root = specRootSchema.safeParse(value);
  if (!root.success)
    diagnostics.push(...zodIssuesToDiagnostics(root.error.issues, value, sourceMap));
  const part = <T>(schema: z.ZodType<T>, key: string): T | undefined => {
    const r = schema.safeParse(value[key]);
    return r.success ? r.data : undefined;
  };
  const tasks: SpecFile["tasks"] = {};
  const graphs: SpecFile["graphs"] = {};
  const brokenTasks = new Set<string>();
  const brokenGraphs = new Set<string>();
  const pieces = [
    ["tasks", taskSchema, tasks, brokenTasks],
    ["graphs", graphSchema, graphs, brokenGraphs],
  ] as const;
  for (const [key, schema, into, broken] of pieces) {
    const raw = value[key];
    if (!isObject(raw)) continue;
    for (const [name, item] of Object.entries(raw)) {
      const r = schema.safeParse(item);
      if (r.success) (into as Record<string, unknown>)[name] = r.data;
      else {
        broken.add(name);
        const prefixed = r.error.issues.map((i) => ({ ...i, path: [key, name, ...i.path] }));
        diagnostics.push(...zodIssuesToDiagnostics(prefixed, value, sourceMap));
      }
    }
  }
  const data: SpecFile = { graphs, tasks };
  const settings = part(settingsSchema, "settings");
  if (settings) data.settings = settings;
  const config = part(specRootSchema.shape.config, "config");
  if (config) data.config = config;
  const environments = part(specRootSchema.shape.environments, "environments");
  if (environments) data.environments = environments;
  return { data, diagnostics, broken: { tasks: brokenTasks, graphs: brokenGraphs } };
}

/** Where and how {@link loadSpecWithDiagnostics} reads. */
export interface LoadOptions {
  /** Directory the spec is looked for in (default: the process's working directory). */
  cwd?: string;
  /** `-f FILE`: a spec file or a directory to look in. */
  file?: string;
  /** Every file-system read of loading goes through it (default: plain, unrecorded reads). */
  files?: SpecFiles;
}

/**
 * Loads, shape-checks and normalizes a spec, collecting every problem instead of stopping at the
 * first. Never throws for problems in the spec's content; throws {@link DagwrightError} only when
 * no spec file can be found or read.
 */
export function loadSpecWithDiagnostics(options: LoadOptions = {}): LoadResult {
  const cwd = options.cwd ?? process.cwd();
  const files = options.files ?? directSpecFiles;
  const located = findSpecFile(cwd, options.file, files);
  const display = path.relative(cwd, located.file) || path.basename(located.file);
  let text: string;
  try {
    const size = files.stat(located.file)?.size ?? 0;
    if (size > YAML_LIMITS.maxBytes) {
      return {
        file: located.file,
        spec: undefined,
        diagnostics: [
          {
            severity: "error",
            kind: "file-too-large",
            path: "",
            location: { file: display, line: 1, column: 1 },
            message: `the file is ${size} bytes; specs are limited to ${YAML_LIMITS.maxBytes} bytes`,
            hint: "split the pipeline into smaller specs, or move data out of the spec into input files",
          },
        ],
      };
    }
    text = files.readText(located.file);
  } catch (cause) {
    throw new DagwrightError("E_USAGE", `cannot read ${display}: ${(cause as Error).message}`, {
      cause,
    });
  }
  const bad = text.includes("\uFFFD") ? invalidUtf8(located.file) : undefined;
  if (bad !== undefined) {
    return {
      file: located.file,
      spec: undefined,
      diagnostics: [
        {
          severity: "error",
          kind: "invalid-utf8",
          path: "",
          location: { file: display, line: bad.line, column: bad.column },
          message: `the file is not valid UTF-8: byte 0x${bad.byte.toString(16).padStart(2, "0")} at offset ${bad.offset} starts no valid character`,
          hint: "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 old.yaml > dagwright.yaml)",
        },
      ],
    };
  }
  const parsed = parseYaml(text, display);
  if (parsed.diagnostics.length > 0)
    return { file: located.file, spec: undefined, diagnostics: parsed.diagnostics };

  if (parsed.value === null || typeof parsed.value !== "object" || Array.isArray(parsed.value)) {
    return {
      file: located.file,
      spec: undefined,
      diagnostics: [
        {
          severity: "error",
          kind: "invalid-type",
          path: "",
          location: { file: display, line: 1, column: 1 },
          message: "expected a mapping with `graphs` and `tasks` at the top level",
          hint: "see `dagwright init` for a working example, or `dagwright schema` for every field",
        },
      ],
    };
  }
  const v02 = kptn02Problem(located.format, parsed.value as Record<string, unknown>, display);
  if (v02 !== undefined) return { file: located.file, spec: undefined, diagnostics: [v02] };
  const { data, diagnostics, broken } = checkShape(
    parsed.value as Record<string, unknown>,
    parsed.sourceMap,
  );
  const spec = normalizeSpec(
    data,
    {
      file: located.file,
      root: path.dirname(located.file),
      format: located.format,
      sourceMap: parsed.sourceMap,
      files,
      ...(located.extraSettings ? { extraSettings: located.extraSettings } : {}),
    },
    diagnostics,
  );
  diagnostics.push(
    ...checkTaskFunctions(spec, {
      readText: (abs) => readTextOrUndefined(files, abs),
      locate: (task) => parsed.sourceMap.locate(["tasks", task.name, "file"]),
    }),
  );
  const locate = (at: (string | number)[]) => parsed.sourceMap.locate(at);
  diagnostics.push(...checkPatternVars(spec, locate), ...checkOutputOwners(spec, locate));
  return { file: located.file, spec, diagnostics: sortDiagnostics(diagnostics), broken };
}

/**
 * Where the first invalid UTF-8 sequence in `file` starts (byte offset, the byte, line, column), or
 * undefined when the file is valid (it holds a U+FFFD on purpose). Reading as text decodes
 * invalid bytes to U+FFFD silently, so a file with one is checked again, strictly.
 */
function invalidUtf8(
  file: string,
): { offset: number; byte: number; line: number; column: number } | undefined {
  const bytes = readFileSync(file);
  if (decodesUpTo(bytes, bytes.length)) return undefined;
  // The shortest prefix that fails to decode ends at the first invalid sequence.
  let ok = 0;
  let bad = bytes.length;
  while (bad - ok > 1) {
    const mid = (ok + bad) >> 1;
    if (decodesUpTo(bytes, mid)) ok = mid;
    else bad = mid;
  }
  // bytes[ok] is where decoding failed; when it is a fine byte, the sequence before it was cut
  // short: point at that sequence's first byte instead.
  let start = ok;
  if (bytes[ok]! < 0x80 || bytes[ok]! >= 0xc0) {
    let i = ok - 1;
    while (i > ok - 4 && i > 0 && (bytes[i]! & 0xc0) === 0x80) i--;
    if (i >= 0 && bytes[i]! >= 0xc0) start = i;
  }
  const lines = bytes.subarray(0, start).toString("utf8").split("\n");
  return {
    offset: start,
    byte: bytes[start]!,
    line: lines.length,
    column: lines.at(-1)!.length + 1,
  };
}

/** True when the first `n` bytes decode, allowing a character cut off at the end. */
function decodesUpTo(bytes: Buffer, n: number): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
    return true;
  } catch {
    return false;
  }
}

function readTextOrUndefined(files: SpecFiles, absPath: string): string | undefined {
  try {
    return files.readText(absPath);
  } catch {
    return undefined;
  }
}

/** Loads a spec or throws a {@link SpecError} carrying every error found. */
export function loadSpec(options: LoadOptions = {}): Spec {
  const result = loadSpecWithDiagnostics(options);
  if (result.spec === undefined || result.diagnostics.some((d) => d.severity === "error")) {
    throw new SpecError(result.diagnostics);
  }
  return result.spec;
}

/** Orders diagnostics by position so output reads top to bottom. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => {
    const la = a.location;
    const lb = b.location;
    if (!la || !lb) return la ? -1 : lb ? 1 : 0;
    return la.file.localeCompare(lb.file) || la.line - lb.line || la.column - lb.column;
  });
}
