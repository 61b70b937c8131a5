import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, REPO } from "../helpers.js";

const SCRIPT = path.join(REPO, "scripts", "setup-runtimes.sh");

/**
 * A machine in a directory: PATH holds only `bin/` (real node, sh and coreutils it uses, plus
 * the given stubs). The apt-get stub logs its arguments and "installs" a package by creating its
 * program, so the script's check after installing sees it.
 */
function machine(opts: {
  have: string[];
  apt: boolean;
  uid: number;
  sudo: boolean;
  /** Whether python3 can import jinja2 (the python3-jinja2 package adds it). */
  jinja?: boolean;
}) {
  const root = makeProject({});
  const bin = path.join(root, "bin");
  const pgBin = path.join(root, "pg");
  mkdirSync(bin);
  mkdirSync(pgBin);
  for (const tool of ["node", "sed", "cat", "chmod"]) {
    const real = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
    symlinkSync(real, path.join(bin, tool));
  }
  const stub = (name: string, body: string) => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  stub("id", `echo ${opts.uid}`);
  if (opts.jinja !== false) writeFileSync(path.join(root, "jinja2"), "");
  const python = `case "$*" in *jinja2*) [ -e ${root}/jinja2 ] ;; *) exit 0 ;; esac`;
  for (const program of opts.have) stub(program, program === "python3" ? python : "exit 0");
  if (opts.have.includes("postgres")) stub(path.join("..", "pg", "postgres"), "exit 0");
  if (opts.sudo) stub("sudo", `echo "sudo $*" >> ${root}/log; "$@"`);
  if (opts.apt)
    stub(
      "apt-get",
      [
        `echo "apt-get $*" >> ${root}/log`,
        'for p in "$@"; do case $p in',
        `  python3) printf '#!/bin/sh\\n' > ${bin}/python3; chmod +x ${bin}/python3 ;;`,
        `  python3-jinja2) : > ${root}/jinja2 ;;`,
        `  r-base-core) printf '#!/bin/sh\\n' > ${bin}/Rscript; chmod +x ${bin}/Rscript ;;`,
        `  postgresql) printf '#!/bin/sh\\n' > ${pgBin}/postgres; chmod +x ${pgBin}/postgres ;;`,
        `  redis-server) printf '#!/bin/sh\\n' > ${bin}/redis-server; chmod +x ${bin}/redis-server ;;`,
        "esac; done",
      ].join("\n"),
    );
  const run = (...args: string[]) => {
    const r = spawnSync("/bin/sh", [SCRIPT, ...args], {
      encoding: "utf8",
      env: { PATH: bin, DAGWRIGHT_TEST_PG_BIN: pgBin },
    });
    const log = path.join(root, "log");
    return {
      code: r.status,
      out: r.stdout + r.stderr,
      log: existsSync(log) ? readFileSync(log, "utf8") : "",
    };
  };
  return { run };
}

describe("scripts/setup-runtimes.sh", () => {
  it("does nothing, and says so, when python3 and Rscript are present", () => {
    const r = machine({ have: ["python3", "Rscript"], apt: true, uid: 0, sudo: false }).run();
    expect(r.out).toBe("setup-runtimes: python3, Rscript: all present, nothing to install\n");
    expect(r.code).toBe(0);
    expect(r.log).toBe("");
  });

  it("installs only what is missing with apt-get, saying why", () => {
    const r = machine({ have: ["python3"], apt: true, uid: 0, sudo: false }).run();
    expect(r.out).toContain("- r-base-core: Rscript runs R tasks");
    expect(r.out).not.toContain("- python3:");
    expect(r.log).toBe(
      "apt-get update -qq\napt-get install -y -qq --no-install-recommends r-base-core\n",
    );
    expect(r.out).toContain("setup-runtimes: installed: r-base-core");
    expect(r.code).toBe(0);
  });

  it("with --test also installs the PostgreSQL and Redis servers, through sudo when not root", () => {
    const r = machine({ have: ["python3", "Rscript"], apt: true, uid: 1000, sudo: true }).run(
      "--test",
    );
    expect(r.out).toContain("- postgresql: the tests start their own PostgreSQL server");
    expect(r.out).toContain("- redis-server: the BullMQ tests start their own Redis");
    expect(r.log).toContain(
      "sudo apt-get install -y -qq --no-install-recommends postgresql redis-server\n",
    );
    expect(r.code).toBe(0);
  });

  it("with --test installs python3-jinja2 where python3 cannot import jinja2", () => {
    const fixed = machine({
      have: ["python3", "Rscript", "postgres", "redis-server"],
      apt: true,
      uid: 0,
      sudo: false,
      jinja: false,
    }).run("--test");
    expect(fixed.out).toContain("- python3-jinja2: the Airflow render tests check");
    expect(fixed.log).toContain("apt-get install -y -qq --no-install-recommends python3-jinja2\n");
    expect(fixed.code).toBe(0);
    const ok = machine({
      have: ["python3", "Rscript", "postgres", "redis-server"],
      apt: true,
      uid: 0,
      sudo: false,
    }).run("--test");
    expect(ok.log).toBe("");
  });

  it("without apt-get, lists what to install by hand and exits 1", () => {
    const r = machine({ have: [], apt: false, uid: 0, sudo: false }).run("--test");
    expect(r.out).toContain("this system has no apt-get; install these with your package manager");
    expect(r.out).toContain("- python3:");
    expect(r.out).toContain("- r-base-core:");
    expect(r.out).toContain("- postgresql:");
    expect(r.code).toBe(1);
  });

  it("without apt-get but with everything present, exits 0", () => {
    const r = machine({
      have: ["python3", "Rscript", "postgres", "redis-server"],
      apt: false,
      uid: 0,
      sudo: false,
    });
    expect(r.run("--test").code).toBe(0);
  });

  it("names the root command when it is not root and has no sudo", () => {
    const r = machine({ have: ["python3"], apt: true, uid: 1000, sudo: false }).run();
    expect(r.out).toContain(
      "not root and no sudo: run as root: apt-get install -y --no-install-recommends r-base-core",
    );
    expect(r.code).toBe(1);
    expect(r.log).toBe("");
  });
});
