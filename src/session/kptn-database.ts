import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { canonicalJson } from "../fingerprint/canonical-json.js";
import type { FsReads } from "../fingerprint/fs-reads.js";
import { hashString } from "../fingerprint/hash-string.js";
import type { Graph } from "../graph/graph.js";
import { dagwrightOpensDatabase } from "../spec/duckdb-database.js";
import { DagwrightError } from "../spec/errors.js";
import type { Spec } from "../spec/types.js";

const KPTN_RUNTIME = fileURLToPath(new URL("../../runtime/dagwright_kptn.py", import.meta.url));
const CALLABLE = /^([A-Za-z_][\w.]*):([A-Za-z_][\w.]*)$/u;

/**
 * A kptn.yaml project's database: kptn runs SQL tasks on the connection `config.duckdb`'s function
 * returns, so when that function is set and `settings.db_path` is not, the project database is
 * the file that function opens. Asked of Python only when the graph has a task dagwright opens the
 * database for, and remembered in `.dagwright/kptn-database.json` keyed on the function, the
 * config and its module's text (a recorded read, so the no-change memo notices an edit): asking
 * again would open the file, which creates it (defeating a checkpoint's restore) and waits on
 * other processes' locks.
 * Returns the spec unchanged, or a copy whose `settings.raw.db_path` is that file.
 *
 * @throws DagwrightError `E_SPEC` when the function cannot be called or opens no file.
 */
export async function withKptnDatabase(
  spec: Spec,
  graph: Graph,
  config: Record<string, unknown>,
  reads: FsReads,
  env: NodeJS.ProcessEnv,
): Promise<Spec> {
  if (spec.format !== "kptn") return spec;
  const written = spec.settings.raw.db_path;
  if (typeof written === "string" && written !== "") return spec;
  const fn = typeof config.duckdb === "string" ? CALLABLE.exec(config.duckdb.trim()) : null;
  if (fn === null) return spec;
  if (!Object.values(graph.tasks).some((t) => dagwrightOpensDatabase(t.spec))) return spec;
  const module = moduleText(spec, fn[1]!, reads);
  const key = hashString(canonicalJson([config.duckdb, config, module ?? null]));
  const memo = path.join(spec.root, ".dagwright", "kptn-database.json");
  let file = remembered(memo, key);
  if (file === undefined) {
    file = await askPython(spec, config, env);
    remember(memo, key, file);
  }
  return { ...spec, settings: { ...spec.settings, raw: { ...spec.settings.raw, db_path: file } } };
}

function remembered(memo: string, key: string): string | undefined {
  try {
    const m = JSON.parse(readFileSync(memo, "utf8")) as { key?: string; path?: string };
    return m.key === key && typeof m.path === "string" ? m.path : undefined;
  } catch {
    return undefined;
  }
}

function remember(memo: string, key: string, file: string): void {
  try {
    mkdirSync(path.dirname(memo), { recursive: true });
    const tmp = `${memo}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ key, path: file }));
    renameSync(tmp, memo);
  } catch {
    // a read-only project asks again next time
  }
}

/** The text of the function's module (`a.b` → `a/b.py` or `a/b/__init__.py`), read through `reads`. */
function moduleText(spec: Spec, module: string, reads: FsReads): string | undefined {
  const rel = module.split(".");
  for (const dir of [".", ...spec.settings.pyTasksDirs]) {
    for (const file of [`${path.join(dir, ...rel)}.py`, path.join(dir, ...rel, "__init__.py")]) {
      const abs = path.resolve(spec.root, file);
      if (reads.exists(abs)) return reads.readText(abs);
    }
  }
  return undefined;
}

function askPython(
  spec: Spec,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const python = env.DAGWRIGHT_PYTHON ?? "python3";
  const childEnv = {
    ...env,
    DAGWRIGHT_SPEC_FORMAT: "kptn",
    DAGWRIGHT_PYTHONPATH: spec.settings.pyTasksDirs.map((d) => path.join(spec.root, d)).join(":"),
  };
  const hint = `set settings.db_path in kptn.yaml to the DuckDB file config.duckdb's function opens (SQL tasks run on that file)`;
  return new Promise((resolve, reject) => {
    const child = execFile(
      python,
      [KPTN_RUNTIME, "duckdb-path"],
      { cwd: spec.root, env: childEnv, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        let reply: { path?: string; error?: string } | undefined;
        try {
          reply = JSON.parse(stdout) as { path?: string; error?: string };
        } catch {
          // no reply: the interpreter did not start, or crashed
        }
        if (reply?.path !== undefined) return resolve(reply.path);
        const why =
          reply?.error ?? `${python} failed: ${(err?.message ?? stderr).trim().split("\n")[0]}`;
        reject(new DagwrightError("E_SPEC", `cannot find the project database: ${why}`, { hint }));
      },
    );
    child.stdin?.end(JSON.stringify({ config, root: spec.root }));
  });
}
