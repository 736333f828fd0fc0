#!/usr/bin/env bash
# Connections: the 16-client sweep of `facerec bench --serve` and the
# server's memory with 2,000 open keep-alive connections (fr-bench-conn),
# for this build and, when OLD_BUILD_DIR is given, an older one (a build of
# an earlier commit in a directory of its own) under the same commands.
# Part of `make bench` (make bench OLD_BUILD=/tmp/old/build compares);
# results go in docs/PERFORMANCE.md.
# Usage: bench/conn.sh [BUILD_DIR] [OLD_BUILD_DIR] [SECONDS] [CONNECTIONS]
set -euo pipefail
build=${1:-build}
old=${2:-}
seconds=${3:-10}
conns=${4:-2000}
. "$(dirname "$0")/images.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

hold() { # $1: build dir whose server is measured; $2: fr-bench-conn's --half or nothing
    local log=$tmp/serve.log pid port=
    "$1/facerec" serve --listen 127.0.0.1:0 --models "$models" --data "$tmp/data-$RANDOM" --no-warmup \
        --log-level warn 2> "$log" &
    pid=$!
    for _ in $(seq 1 600); do
        port=$(grep -o '(port [0-9]*' "$log" | grep -o '[0-9]*' || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        cat "$log" >&2
        kill "$pid"
        return 1
    fi
    "$build/fr-bench-conn" --port "$port" --pid "$pid" --connections "$conns" $2 || true
    kill "$pid"
    wait "$pid" || true
}

for b in $old "$build"; do
    echo "# $b: facerec serve (defaults), facerec bench, 16 clients"
    "$b/facerec" bench --serve --models "$models" --concurrency 16 --duration "$seconds" "${imgs[@]}"
    echo "# $b: $conns keep-alive connections held open, then a new client"
    hold "$b" ""
    echo "# $b: $conns half-open connections (half a header each), then a new client"
    hold "$b" --half
done
