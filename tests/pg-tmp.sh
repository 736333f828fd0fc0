#!/bin/sh
# A throwaway PostgreSQL server for the tests.
#
#   pg-tmp.sh start DIR   initdb + start a server in DIR (created, empty),
#                         listening only on a Unix socket in DIR; prints the
#                         URL of its database "facerec" (created) on stdout
#   pg-tmp.sh stop DIR    stops it and removes DIR
#   pg-tmp.sh run CMD...  start in a fresh temporary directory, run CMD with
#                         FACEREC_TEST_PG set to the URL, stop even if CMD
#                         fails or is interrupted; exits with CMD's status
#
# Exit 77 (CTest's "skipped") when no PostgreSQL server binaries are
# installed. As root (CI), the server runs as the `postgres` user, since
# initdb refuses root. Binaries: $PG_BIN, else the newest
# /usr/lib/postgresql/*/bin, else PATH.
set -eu

find_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ]; then echo "$d"; return; fi
    done
    p=$(command -v initdb 2>/dev/null || true)
    [ -n "$p" ] && dirname "$p"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    dir=$1
    bin=$(find_bin)
    if [ -z "$bin" ]; then echo "pg-tmp.sh: no PostgreSQL server binaries (initdb)" >&2; exit 77; fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        echo "pg-tmp.sh: running as root but there is no postgres user" >&2; exit 77
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --locale=C -E UTF8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2; exit 1; }
    # Unix socket only, in DIR: no port conflicts between parallel tests.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses= -c unix_socket_directories=$dir -c port=5432 -c fsync=off -c max_connections=200" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h "$dir" -p 5432 -U postgres facerec
    echo "postgresql://postgres@/facerec?host=$dir&port=5432"
}

stop() {
    dir=$1
    bin=$(find_bin)
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

cmd=${1:-}
shift || true
case "$cmd" in
start) start "$1" ;;
stop) stop "$1" ;;
run)
    dir=$(mktemp -d /tmp/fr-pg-XXXXXX)
    trap 'stop "$dir"' EXIT
    trap 'exit 130' INT TERM
    # Should this script itself be killed (a test timeout sends SIGKILL,
    # which no trap sees), a watcher outside its process group stops the
    # server and removes the directory once it is gone.
    me=$$
    setsid sh -c 'while kill -0 "$1" 2>/dev/null; do sleep 2; done; "$2" stop "$3"' sh "$me" "$0" "$dir" \
        </dev/null >/dev/null 2>&1 &
    url=$(start "$dir") || { rc=$?; exit $rc; }
    set +e
    FACEREC_TEST_PG=$url "$@"
    exit $?
    ;;
*) echo "usage: pg-tmp.sh start DIR | stop DIR | run CMD..." >&2; exit 2 ;;
esac
