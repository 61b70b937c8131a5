import { execFile } from "node:child_process";
import type { TaskKind } from "../spec/types.js";

/** The interpreter each task kind runs under, and the key it is reported as. */
const BINARIES: Partial<Record<TaskKind, string>> = { python: "python3", r: "Rscript" };

const probes = new Map<string, Promise<string>>();

function probe(binary: string): Promise<string> {
  let p = probes.get(binary);
  if (p === undefined) {
    p = new Promise((resolve) => {
      execFile(binary, ["--version"], { timeout: 15_000 }, (err, stdout, stderr) => {
        if (err !== null) {
          resolve("missing");
          return;
        }
        // Python 2 and older R print the version on stderr.
        const text = `${stdout}\n${stderr}`;
        const m = /\b(\d+\.\d+(?:\.\d+)?(?:[-+.\w]*)?)/u.exec(text);
        resolve(m?.[1] ?? text.trim().split("\n")[0] ?? "unknown");
      });
    });
    probes.set(binary, p);
  }
  return p;
}

/**
 * Versions of the runtimes the given task kinds use, for the fingerprint: `node` (this process)
 * for `node`, `python3` for `python`, `Rscript` for `r`; other kinds add nothing. Each binary is
 * asked once per process (`--version`); one that cannot be run reports `"missing"`. Never throws.
 */
export async function runtimeVersions(kinds: Set<TaskKind>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (kinds.has("node")) out.node = process.version;
  const wanted = [...kinds].flatMap((k) => BINARIES[k] ?? []).sort();
  const versions = await Promise.all(wanted.map(probe));
  wanted.forEach((binary, i) => {
    out[binary] = versions[i]!;
  });
  return out;
}
