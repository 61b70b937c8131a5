#!/usr/bin/env node
// Bundles the CLI (dist/cli/main.js, emitted by tsc) into dist/bundle/, which bin/dagwright.js
// loads. Node 20 spends ~150 ms resolving, reading and linking the ~100 ESM files of the unbundled
// tree on every command; one file (plus chunks for what is imported lazily: YAML/zod parsing,
// PostgreSQL, S3, rendering) starts in a fraction of that. Native and very large packages stay
// external and are loaded from node_modules as before. dist/bundle/ sits two directories below
// the package root, like dist/cli/, so `new URL("../../…", import.meta.url)` paths still hold.
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "bundle");
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  // `no-change` is the no-change memo check, which `run` loads first (src/cli/no-change.ts);
  // `prestart-workers` starts a TS worker thread while the CLI loads
  // (src/tasks/prestart-workers.ts).
  entryPoints: {
    dagwright: "dist/cli/main.js",
    "no-change": "dist/cli/no-change.js",
    "prestart-workers": "dist/tasks/prestart-workers.js",
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  // CommonJS dependencies bundled into ESM call require() for Node built-ins.
  banner: {
    js: 'import { createRequire as __dwRequire } from "node:module"; const require = __dwRequire(import.meta.url);',
  },
  external: ["better-sqlite3", "pg", "@aws-sdk/*", "nunjucks", "esbuild"],
  logLevel: "warning",
});
