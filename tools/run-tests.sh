#!/usr/bin/env bash
# The whole test suite: starts a private PostgreSQL on 127.0.0.1 (own data folder and port),
# runs pytest on SQLite and PostgreSQL, and stops the server whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PG_DIR=${PG_DIR:-$PWD/.pg}
PG_PORT=${PG_PORT:-$((54000 + RANDOM % 900))}

# headless Chromium for the HTML report tests (Debian's package; the tests never download a browser)
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Chromium (apt-get install chromium)..." >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >&2 \
    || echo "Chromium could not be installed: the browser tests will skip (and fail under CI=true)" >&2
fi

# the real modelscope client, in a small venv of its own (its dependencies stay out of ptmhub's):
# tests/test_modelscope.py checks that it finds what ptmhub pulled, and the reverse
MS_VENV=${MS_VENV:-$PWD/.venv-modelscope}
if ! "$MS_VENV/bin/python" -c "import modelscope" >/dev/null 2>&1; then
  echo "installing the modelscope client into $MS_VENV..." >&2
  { python3 -m venv "$MS_VENV" && "$MS_VENV/bin/python" -m pip install -q --disable-pip-version-check \
      'modelscope==1.40.2' 'modelscope-hub==0.5.1'; } >&2 \
    || echo "the modelscope client could not be installed: its interoperability tests will skip" >&2
fi
"$MS_VENV/bin/python" -c "import modelscope" >/dev/null 2>&1 && export PTMHUB_TEST_MODELSCOPE_PYTHON="$MS_VENV/bin/python"

rm -rf "$PG_DIR"
# set before the start, so a half-started server (and its folder under /tmp when run as root) goes too
trap 'tools/postgres.sh stop "$PG_DIR"; rm -rf "$PG_DIR"' EXIT
if url=$(tools/postgres.sh start "$PG_DIR" "$PG_PORT"); then
  export PTMHUB_TEST_POSTGRES_URL="$url"
  echo "PostgreSQL for the tests: $url"
else
  echo "PostgreSQL could not be started: the PostgreSQL tests will skip (and fail under CI=true)" >&2
fi
"$PY" -m pytest "$@"
rc=$?
[ "$rc" = 5 ] && { echo "no tests were collected" >&2; rc=1; }
exit "$rc"
