#!/bin/sh
# Installs the system programs dagwright's quickstart (and, with --test, its tests) need, where
# they are missing: python3 and Rscript run the quickstart's Python and R tasks; the tests also
# start throwaway PostgreSQL and Redis servers and render Airflow DAGs with Python's jinja2. Uses apt-get (with sudo when not root). Does nothing when
# everything is there. On a system without apt-get it prints what to install by hand and exits 1
# only if something is missing.
#
# Usage: sh scripts/setup-runtimes.sh [--test]
set -eu

want_tests=no
for arg in "$@"; do
  case "$arg" in
    --test) want_tests=yes ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup-runtimes: unknown option $arg (expected --test)" >&2
      exit 2
      ;;
  esac
done

say() { echo "setup-runtimes: $*"; }

# Node itself cannot come from here: the README's commands run with the Node that runs npm.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none)); install it from https://nodejs.org or your distribution, then rerun"
  exit 1
fi

has_postgres_server() {
  if [ -n "${DAGWRIGHT_TEST_PG_BIN:-}" ]; then
    [ -x "$DAGWRIGHT_TEST_PG_BIN/postgres" ]
    return
  fi
  for initdb in /usr/lib/postgresql/*/bin/initdb; do
    [ -x "$initdb" ] && return 0
  done
  return 1
}

has_jinja2() { python3 -c 'import jinja2' >/dev/null 2>&1; }

# Each missing program: its Debian package, and why it is needed.
missing=""
reasons=""
need() {
  missing="$missing $1"
  reasons="$reasons
  - $1: $2"
}
command -v python3 >/dev/null 2>&1 || need python3 "python3 runs Python tasks (the quickstart's clean step)"
command -v Rscript >/dev/null 2>&1 || need r-base-core "Rscript runs R tasks (the quickstart's monthly step)"
if [ "$want_tests" = yes ]; then
  has_postgres_server ||
    need postgresql "the tests start their own PostgreSQL server on 127.0.0.1 (test/services/postgres.ts)"
  command -v redis-server >/dev/null 2>&1 ||
    need redis-server "the BullMQ tests start their own Redis on 127.0.0.1 (test/services/redis.ts)"
  has_jinja2 ||
    need python3-jinja2 "the Airflow render tests check what Airflow's Jinja makes of each templated field"
fi

checked="python3, Rscript"
[ "$want_tests" = yes ] && checked="$checked, PostgreSQL server, redis-server, jinja2"
if [ -z "$missing" ]; then
  say "$checked: all present, nothing to install"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "missing, and this system has no apt-get; install these with your package manager:$reasons"
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    say "missing:$reasons"
    say "not root and no sudo: run as root: apt-get install -y --no-install-recommends$missing"
    exit 1
  fi
  sudo="sudo"
fi

say "installing with apt-get:$reasons"
$sudo apt-get update -qq
# shellcheck disable=SC2086 # $missing is a list of package names
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing

still=""
command -v python3 >/dev/null 2>&1 || still="$still python3"
command -v Rscript >/dev/null 2>&1 || still="$still Rscript"
if [ "$want_tests" = yes ] && ! has_postgres_server; then still="$still PostgreSQL-server"; fi
if [ "$want_tests" = yes ] && ! command -v redis-server >/dev/null 2>&1; then still="$still redis-server"; fi
if [ "$want_tests" = yes ] && ! has_jinja2; then
  still="$still jinja2 (for $(command -v python3); if that is not the system python3, run: python3 -m pip install jinja2)"
fi
if [ -n "$still" ]; then
  say "still missing after the install:$still"
  exit 1
fi
say "installed:$missing"
