import path from "node:path";
import { parse as parseToml } from "smol-toml";
import { DagwrightError } from "./errors.js";
import { directSpecFiles, type SpecFiles } from "./spec-files.js";
import type { SpecFormat } from "./types.js";

/** The file names searched, in order, when no `-f FILE` is given. */
export const SPEC_FILE_NAMES = [
  "dagwright.yaml",
  "dagwright.yml",
  "kptn.yaml",
  "kptn.yml",
] as const;

/** A spec file found on disk, with its format and any settings from pyproject.toml. */
export interface Located {
  file: string;
  format: SpecFormat;
  extraSettings?: Record<string, unknown>;
}

function formatOf(file: string): SpecFormat {
  return path.basename(file).toLowerCase().startsWith("kptn") ? "kptn" : "dagwright";
}

/**
 * Finds the spec: `dagwright.yaml`, else `kptn.yaml`, in `cwd`; else a pyproject.toml whose
 * `[tool.kptn]` table names it (`tasks_conf_path`, default `kptn.yaml`). Throws a usage error
 * naming what was looked for when none exists. Every probe and read goes through `files`.
 */
export function findSpecFile(
  cwd: string,
  explicit?: string,
  files: SpecFiles = directSpecFiles,
): Located {
  if (explicit !== undefined) {
    const file = path.resolve(cwd, explicit);
    const st = files.stat(file);
    if (st === undefined) {
      throw new DagwrightError("E_USAGE", `spec file ${explicit} does not exist`, {
        hint: "check the path given to -f/--file",
      });
    }
    if (st.isDirectory()) return findSpecFile(file, undefined, files);
    return { file, format: formatOf(file), ...pyprojectSettings(path.dirname(file), files) };
  }
  for (const name of SPEC_FILE_NAMES) {
    const file = path.join(cwd, name);
    if (files.exists(file))
      return { file, format: formatOf(file), ...pyprojectSettings(cwd, files) };
  }
  const py = pyprojectSettings(cwd, files);
  if (py.extraSettings) {
    const conf =
      typeof py.extraSettings.tasks_conf_path === "string"
        ? py.extraSettings.tasks_conf_path
        : "kptn.yaml";
    const file = path.resolve(cwd, conf);
    if (files.exists(file)) return { file, format: "kptn", extraSettings: py.extraSettings };
    throw new DagwrightError(
      "E_USAGE",
      `pyproject.toml [tool.kptn] points to ${conf}, which does not exist`,
      {
        hint: "fix tasks_conf_path in pyproject.toml, or pass the spec with -f FILE",
      },
    );
  }
  throw new DagwrightError("E_USAGE", `no dagwright.yaml or kptn.yaml in ${cwd}`, {
    hint: "run dagwright in the project directory, pass -f path/to/dagwright.yaml, or create a project with `dagwright init`",
  });
}

/** Reads `[tool.kptn]` from pyproject.toml in `dir`, if present (the older kptn layout). */
function pyprojectSettings(
  dir: string,
  files: SpecFiles,
): { extraSettings?: Record<string, unknown> } {
  const file = path.join(dir, "pyproject.toml");
  if (!files.exists(file)) return {};
  let table: unknown;
  try {
    const doc = parseToml(files.readText(file)) as { tool?: { kptn?: unknown } };
    table = doc.tool?.kptn;
  } catch (cause) {
    throw new DagwrightError(
      "E_SPEC",
      `${file}: invalid TOML (${(cause as Error).message.split("\n")[0]})`,
      {
        cause,
        hint: "fix pyproject.toml, or remove its [tool.kptn] table",
      },
    );
  }
  if (table === null || typeof table !== "object") return {};
  const known = [
    "flows_dir",
    "py_tasks_dir",
    "r_tasks_dir",
    "tasks_conf_path",
    "docker_image",
    "cache_namespace",
    "flow_type",
  ];
  return {
    extraSettings: Object.fromEntries(Object.entries(table).filter(([k]) => known.includes(k))),
  };
}
