import { isAbsolute, posix, win32 } from "node:path";
import { DagwrightError } from "../spec/errors.js";

const HINT = "artifact paths are project-relative POSIX paths such as out/report.csv";

/**
 * Checks a project-relative artifact path and returns its normalized POSIX form (`a/./b` →
 * `a/b`). This is Invariant 5 for artifacts: the result never starts with `/` or `..`, so joined
 * to the project root or to a store's prefix it stays inside.
 *
 * @throws DagwrightError `E_USAGE` naming the path when it is empty, absolute, escapes the
 *   project with `..`, or names a directory.
 */
export function toArtifactPath(path: string): string {
  const norm = normalizeInside("artifact path", path);
  if (norm === "." || norm.endsWith("/")) {
    throw new DagwrightError(
      "E_USAGE",
      `artifact path ${JSON.stringify(path)} names a directory, not a file`,
      { hint: `${HINT}; list a directory's files with a prefix such as out/` },
    );
  }
  return norm;
}

/**
 * Checks a project-relative listing prefix (`""`, `out/`, `out/part-`) and returns it normalized,
 * keeping a trailing `/`. `.` and `./` become `""`.
 *
 * @throws DagwrightError `E_USAGE` naming the prefix when it is absolute or escapes the project.
 */
export function toArtifactPrefix(prefix: string): string {
  if (prefix === "") return "";
  const norm = normalizeInside("artifact prefix", prefix);
  return norm === "." || norm === "./" ? "" : norm;
}

function normalizeInside(what: string, path: string): string {
  if (path === "" || path.includes("\0")) {
    throw new DagwrightError("E_USAGE", `${what} ${JSON.stringify(path)} is not a file path`, {
      hint: HINT,
    });
  }
  if (isAbsolute(path) || posix.isAbsolute(path) || win32.isAbsolute(path)) {
    throw new DagwrightError(
      "E_USAGE",
      `${what} ${JSON.stringify(path)} is absolute; it must be relative to the project root`,
      { hint: HINT },
    );
  }
  const norm = posix.normalize(path);
  if (norm === ".." || norm.startsWith("../")) {
    throw new DagwrightError(
      "E_USAGE",
      `${what} ${JSON.stringify(path)} escapes the project root`,
      {
        hint: HINT,
      },
    );
  }
  return norm;
}

/** Every path checked and normalized, duplicates dropped, in first-seen order. */
export function toArtifactPaths(paths: readonly string[]): string[] {
  return [...new Set(paths.map(toArtifactPath))];
}

/** The error for pushing a file that is not in the project (push only what a task wrote). */
export function missingLocalFile(rel: string, root: string): DagwrightError {
  return new DagwrightError("E_TASK", `cannot upload ${rel}: no such file in ${root}`, {
    hint: "push only the outputs a task wrote; check the task's outputs patterns",
  });
}
