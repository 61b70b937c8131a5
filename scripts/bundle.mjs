#!/usr/bin/env node
// Bundles the CLI (dist/cli/main.js, emitted by tsc) into dist/bundle/, which bin/dagwright.cjs
// loads. Node 20 spends ~150 ms resolving, reading and linking the ~100 ESM files of the unbundled
// tree on every command; a bundle starts in a fraction of that. dist/bundle/ sits two directories
// below the package root, like dist/cli/, so `new URL("../../…", import.meta.url)` paths still
// hold.
//
// Everything is CommonJS: bin/dagwright.cjs compiles the CLI's script with a V8 code cache, which
// Node 20 has none of for ES modules, and an ES module costs Node's ESM loader its start-up.
// - dagwright.cjs: the CLI, as one script (see bin/dagwright.cjs). Modules the CLI imports lazily
//   stay lazy: esbuild runs their top level on first import().
// - vendor-zod.cjs, vendor-yaml.cjs: the spec parser's dependencies, the bulk of the code by size,
//   loaded only when a spec is parsed and validated (not on the cached path of run/status). Each
//   is a separate file so the CLI's script, read and checked on every command, stays small.
// - no-change.cjs, prestart-workers.cjs: small scripts that bin/dagwright.cjs requires before the
//   CLI for `run` (src/cli/no-change.ts, src/tasks/prestart-workers.ts). Each has its own copy of
//   what it uses; they share nothing with the CLI's script but the global registry of prestarted
//   workers.
// Native and very large packages stay external and are loaded from node_modules; better-sqlite3's
// JavaScript is bundled (a dozen files less to load on every command that opens the state store),
// and src/state/sqlite-store.ts names its addon, so its `bindings` lookup is never used. `pg` and
// `@aws-sdk/*` are optional peer dependencies the user's project installs when it needs them
// (src/spec/optional-package.ts loads them); external, so a static import never bundles them in.
// Source maps are for working on dagwright here; package.json's `files` leaves them out of the
// package.
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist", "bundle");
rmSync(outdir, { recursive: true, force: true });

const external = ["bindings", "pg", "@aws-sdk/*", "nunjucks", "esbuild"];
const VENDORED = ["zod", "yaml"];
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  // Warnings (an `import.meta` esbuild cannot carry into CommonJS, say) fail the build.
  logLevel: "warning",
};

/** A CommonJS bundle of one entry point (see above for why CommonJS). */
const cjsBundle = (name, entry) =>
  build({
    ...common,
    entryPoints: { [name]: entry },
    outdir,
    outExtension: { ".js": ".cjs" },
    format: "cjs",
    // The ESM sources read import.meta.url (files shipped with the package, createRequire).
    define: { "import.meta.url": "__dwImportMetaUrl" },
    // "use strict" first: esbuild's own directive would follow the banner, and count for nothing.
    banner: {
      js: '"use strict";\nconst __dwImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
    },
    external,
    plugins: [
      {
        name: "vendored",
        setup(b) {
          const filter = new RegExp(`^(${VENDORED.join("|")})(/.*)?$`);
          b.onResolve({ filter }, (args) => {
            if (args.path.includes("/")) throw new Error(`vendor a subpath: ${args.path}`);
            return { path: `./vendor-${args.path}.cjs`, external: true };
          });
        },
      },
    ],
  });

const results = await Promise.all([
  cjsBundle("dagwright", "dist/cli/main.js"),
  cjsBundle("no-change", "dist/cli/no-change.js"),
  cjsBundle("prestart-workers", "dist/tasks/prestart-workers.js"),
  ...VENDORED.map((pkg) =>
    build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(pkg)});`, resolveDir: root },
      outfile: path.join(outdir, `vendor-${pkg}.cjs`),
      format: "cjs",
    }),
  ),
]);
const warnings = results.flatMap((r) => r.warnings);
if (warnings.length > 0) {
  console.error(`bundle: ${warnings.length} warning(s), see above`);
  process.exit(1);
}
// bin/dagwright.cjs compiles the CLI without an ES module loader hook: an import() left in the
// script (outside comments) would fail at run time on Node before 20.12.
for (const name of ["dagwright", "no-change", "prestart-workers"]) {
  const code = readFileSync(path.join(outdir, `${name}.cjs`), "utf8");
  const line = code.split("\n").find((l) => /\bimport\(/.test(l) && !/^\s*\/\//.test(l));
  if (line !== undefined) {
    console.error(`bundle: ${name}.cjs still calls import(): ${line.trim()}`);
    process.exit(1);
  }
}
