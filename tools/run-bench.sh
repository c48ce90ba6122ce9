#!/usr/bin/env bash
# make bench: every benchmark, with a private PostgreSQL for the PostgreSQL figures; writes
# docs/benchmarks.md (and docs/benchmarks.json).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PG_DIR=${PG_DIR:-$PWD/.pg-bench}
rm -rf "$PG_DIR"
args=()
if url=$(tools/postgres.sh start "$PG_DIR" "$((55000 + RANDOM % 900))"); then
  trap 'tools/postgres.sh stop "$PG_DIR"; rm -rf "$PG_DIR"' EXIT
  args=(--postgres-url "$url")
fi
"$PY" -m bench "${args[@]}" "$@"
