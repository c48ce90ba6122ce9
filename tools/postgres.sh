#!/usr/bin/env bash
# Start or stop a private PostgreSQL server for the test suite: its own data folder, 127.0.0.1
# only, its own port. Usage: tools/postgres.sh start DIR PORT | stop DIR
# Prints the database URL on start. Installs Debian's postgresql when no server is found.
set -euo pipefail
cmd=${1:?start or stop}; dir=${2:?data folder}; port=${3:-54329}

find_bin() {
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; done
  command -v pg_ctl >/dev/null 2>&1 && dirname "$(readlink -f "$(command -v pg_ctl)")"
}
bin=$(find_bin || true)
if [ -z "$bin" ] && [ "$cmd" = start ]; then
  echo "installing PostgreSQL (apt-get install postgresql)..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  else sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2; fi
  bin=$(find_bin)
fi
[ -n "$bin" ] || { echo "no PostgreSQL server binaries found" >&2; exit 1; }

as_pg() {  # initdb/pg_ctl refuse to run as root: use the postgres user then
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$dir"
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir/data"
      as_pg "'$bin/initdb' -D '$dir/data' -U ptmhub --auth=trust -E UTF8 --no-locale" >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # the next ports when one is taken (another server, an earlier run's): up to 10 tries
    for try_port in $(seq "$port" $((port + 9))); do
      : >"$dir/server.log"
      if as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o \"-h 127.0.0.1 -p $try_port -k '$dir' -c fsync=off -c full_page_writes=off -c max_connections=100\" start" >&2; then
        echo "postgresql://ptmhub@127.0.0.1:$try_port/postgres"
        exit 0
      fi
      grep -q "Address already in use" "$dir/server.log" || break
      echo "port $try_port is taken, trying the next" >&2
    done
    cat "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/data/postmaster.pid" ] && as_pg "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" >&2 || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
