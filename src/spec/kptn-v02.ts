import type { Diagnostic } from "./diagnostic.js";
import type { SpecFormat } from "./types.js";

/** Top-level keys of a kptn 0.2 `kptn.yaml` (the pipeline itself lives in Python). */
const V02_KEYS = new Set(["settings", "profiles"]);

/**
 * A kptn 0.2 project: a `kptn.yaml` with no `graphs` or `tasks` whose keys are only kptn 0.2's
 * (`settings`, `profiles`). Its pipeline is declared in Python with `@kptn.task`, which dagwright
 * does not read: say so, instead of listing the 0.1 fields it lacks.
 */
export function kptn02Problem(
  format: SpecFormat,
  value: Record<string, unknown>,
  display: string,
): Diagnostic | undefined {
  if (format !== "kptn" || "graphs" in value || "tasks" in value) return undefined;
  const keys = Object.keys(value);
  if (keys.length > 0 && !keys.every((k) => V02_KEYS.has(k))) return undefined;
  const what = "profiles" in value ? "a kptn 0.2 project" : "probably a kptn 0.2 project";
  return {
    severity: "error",
    kind: "kptn-0.2",
    path: "",
    location: { file: display, line: 1, column: 1 },
    message: `${display} declares no graphs or tasks: this is ${what}, whose pipeline is written in Python (@kptn.task, kptn.Pipeline); dagwright reads kptn's 0.1 YAML format, where kptn.yaml lists graphs and tasks`,
    hint: "declare the pipeline as `graphs:` and `tasks:` in kptn.yaml or dagwright.yaml (see `dagwright docs kptn` or docs/kptn.md), or keep running this project with kptn 0.2",
  };
}
