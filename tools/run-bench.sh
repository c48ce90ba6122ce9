#!/usr/bin/env bash
# make bench: every benchmark, with a private PostgreSQL for the PostgreSQL figures; writes
# docs/benchmarks.md (and docs/benchmarks.json).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PG_DIR=${PG_DIR:-$PWD/.pg-bench}
# Compile ptmhub to bytecode first, as any install does (pip at install time, Python on first
# import). Where PYTHONDONTWRITEBYTECODE is set (this machine sets it), nothing would ever write
# ptmhub's .pyc files, and every start-up run would recompile it from source: measured on 2 cores,
# +20 ms CPU on `ptmhub search` (1.27 x instead of 1.17 x the baseline) and +8 ms on --help.
"$PY" -m compileall -q ptmhub migrations bench >/dev/null
rm -rf "$PG_DIR"
args=()
if url=$(tools/postgres.sh start "$PG_DIR" "$((55000 + RANDOM % 900))"); then
  trap 'tools/postgres.sh stop "$PG_DIR"; rm -rf "$PG_DIR"' EXIT
  args=(--postgres-url "$url")
fi
"$PY" -m bench "${args[@]}" "$@"
