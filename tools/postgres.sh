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

# As root, the server runs as the postgres user, which often cannot reach DIR (under /root, or any
# folder with a 0700 parent): the data folder and socket then live in a private folder under /tmp
# owned by postgres, whose path DIR/pgroot records (stop removes it).
as_pg() {  # initdb/pg_ctl refuse to run as root: use the postgres user then
  if [ "$(id -u)" = 0 ]; then
    (cd / && su postgres -s /bin/sh -c "$*")  # from a folder it can enter
  else
    sh -c "$*"
  fi
}

pg_root() {  # where the data folder and socket are: DIR itself, or the /tmp folder DIR/pgroot names
  if [ -f "$dir/pgroot" ]; then cat "$dir/pgroot"; else echo "$dir"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
      if [ ! -f "$dir/pgroot" ]; then
        root=$(mktemp -d /tmp/ptmhub-pg.XXXXXX)
        chown postgres "$root"; chmod 700 "$root"
        echo "$root" >"$dir/pgroot"
      fi
    fi
    root=$(pg_root)
    if [ ! -f "$root/data/PG_VERSION" ]; then
      as_pg "mkdir -p '$root/data' && '$bin/initdb' -D '$root/data' -U ptmhub --auth=trust -E UTF8 --no-locale" \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # the next ports when one is taken (another server, an earlier run's): up to 10 tries
    for try_port in $(seq "$port" $((port + 9))); do
      as_pg ": >'$root/server.log'"
      if as_pg "'$bin/pg_ctl' -D '$root/data' -l '$root/server.log' -w -t 60 -o \"-h 127.0.0.1 -p $try_port -k '$root' -c fsync=off -c full_page_writes=off -c max_connections=100\" start" >&2; then
        echo "postgresql://ptmhub@127.0.0.1:$try_port/postgres"
        exit 0
      fi
      grep -q "Address already in use" "$root/server.log" || break
      echo "port $try_port is taken, trying the next" >&2
    done
    cat "$root/server.log" >&2
    exit 1
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    dir=$(cd "$dir" && pwd)
    root=$(pg_root)
    [ -f "$root/data/postmaster.pid" ] && as_pg "'$bin/pg_ctl' -D '$root/data' -m fast -w stop" >&2 || true
    if [ -f "$dir/pgroot" ]; then
      case "$root" in /tmp/ptmhub-pg.*) rm -rf "$root" ;; esac
      rm -f "$dir/pgroot"
    fi
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
