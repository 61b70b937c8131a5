import { checkTaskSignatures } from "../spec/check-task-signatures.js";
import type { Diagnostic } from "../spec/diagnostic.js";
import { type LoadOptions, loadSpecWithDiagnostics, sortDiagnostics } from "../spec/load-spec.js";
import { directSpecFiles } from "../spec/spec-files.js";
import type { Spec } from "../spec/types.js";
import { checkAllGraphs } from "./build-graph.js";
import type { Graph } from "./graph.js";

/** What {@link loadCheckedSpec} finds: the spec, its graphs that passed, and every problem. */
export interface CheckedSpec {
  /** Absolute path of the spec file read. */
  file: string;
  /** Undefined when the file could not be parsed or shape-checked at all. */
  spec: Spec | undefined;
  /** The graphs without errors, by name. */
  graphs: Record<string, Graph>;
  /** Every problem of the file and of its graphs, in file order. */
  diagnostics: Diagnostic[];
}

/**
 * Loads a spec and checks every graph of it, and the signatures of its Python function tasks
 * against what each graph passes them (src/spec/check-task-signatures.ts): what `validate`, the
 * CLI's loading and `openProject` all do before they use a spec. Never throws for problems in the spec's content
 * (they are in `diagnostics`); throws `DagwrightError` only when no spec file can be read.
 */
export function loadCheckedSpec(options: LoadOptions = {}): CheckedSpec {
  const result = loadSpecWithDiagnostics(options);
  const all = [...result.diagnostics];
  let graphs: Record<string, Graph> = {};
  if (result.spec) {
    const checked = checkAllGraphs(result.spec, result.broken);
    all.push(...checked.diagnostics);
    graphs = checked.graphs;
    const files = options.files ?? directSpecFiles;
    all.push(
      ...checkTaskSignatures(result.spec, graphs, {
        readText(abs) {
          try {
            return files.readText(abs);
          } catch {
            return undefined;
          }
        },
      }),
    );
  }
  return { file: result.file, spec: result.spec, graphs, diagnostics: sortDiagnostics(all) };
}
