#!/usr/bin/env bash
# Index throughput through the job queue against the local `facerec index`.
#
#   bench/queue.sh [BUILD_DIR] [N]
#
# Makes N distinct photos (crops and mirror images of the test photos,
# ImageMagick), then indexes them four ways, each into a fresh store:
#   local     facerec index DIR (SQLite, in-process pipeline)
#   sqlite/1  one facerec serve on SQLite, POST /v1/jobs
#   pg/1      one facerec serve on PostgreSQL, POST /v1/jobs
#   pg/2      two facerec serve on the same PostgreSQL, POST /v1/jobs
# and prints images/s (wall time from the POST to the job's "done"; the
# servers' start-up is not counted). PostgreSQL is a throwaway server
# (tests/pg-tmp.sh).
set -euo pipefail
build=$(realpath "${1:-build}")
n=${2:-120}
root=$(cd "$(dirname "$0")/.." && pwd)
models=${FACEREC_MODELS:-$root/models}
data=$root/../shared/testdata/face_recognition/examples
tmp=$(mktemp -d /tmp/fr-bench-queue-XXXXXX)
pgdir=$(mktemp -d /tmp/fr-pg-XXXXXX) # its own: the server runs as postgres when we are root
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    "$root/tests/pg-tmp.sh" stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fr=$build/facerec
mkdir -p "$tmp/photos"
bases=("$data/obama.jpg" "$data/biden.jpg" "$data/obama2.jpg" "$data/two_people.jpg" "$data/obama-480p.jpg")
for ((i = 0; i < n; i++)); do
    b=${bases[i % ${#bases[@]}]}
    k=$((i / ${#bases[@]}))
    flop=$([ $((k % 2)) = 1 ] && echo -flop || true)
    convert "$b" $flop -gravity southeast -crop "$((100 - k % 9))%x$((100 - k / 9 % 9))%+0+0" +repage \
        -resize '360x360>' -quality 85 "$tmp/photos/p$(printf %04d "$i").jpg" 2>/dev/null
done
echo "# $n photos (up to 360 px), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }

# local: the time of N images less the time of one (model loading and
# start-up, which the servers' figures do not count either)
mkdir -p "$tmp/one"
cp "$tmp/photos/p0000.jpg" "$tmp/one/"
for d in local one; do "$fr" user add alice --data "$tmp/$d" >/dev/null 2>&1; done
t0=$(now)
"$fr" index "$tmp/one" --user alice --data "$tmp/one" --models "$models" --quiet >/dev/null
t1=$(now)
"$fr" index "$tmp/photos" --user alice --data "$tmp/local" --models "$models" --quiet >/dev/null
t2=$(now)
local_ips=$(echo "($n - 1) / (($t2 - $t1) - ($t1 - $t0))" | bc -l)
printf 'local     %6.2f images/s (start-up %.1f s not counted)\n' "$local_ips" "$(echo "$t1 - $t0" | bc -l)"

# Starts a server on data $1 named $2; sets $port.
serve() {
    local log=$tmp/$2.log
    "$fr" serve --data "$1" --listen 127.0.0.1:0 --models "$models" --no-warmup --log-level warn \
        --node-name "$2" 2>"$log" &
    pids+=($!)
    port=
    for _ in $(seq 600); do
        port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log" | head -1)
        [ -n "$port" ] && curl -fs "localhost:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
}

# Posts the job to port $1 with key $2 and waits for it; prints images/s.
run_job() {
    local t0 id state
    t0=$(now)
    id=$(curl -fs -H "X-API-Key: $2" -H 'Content-Type: application/json' \
        -d "{\"kind\":\"index\",\"paths\":[\"$tmp/photos\"]}" "localhost:$1/v1/jobs" | sed 's/^{"id":\([0-9]*\).*/\1/')
    while :; do
        state=$(curl -fs -H "X-API-Key: $2" "localhost:$1/v1/jobs/$id")
        case "$state" in *'"state":"running"'*) sleep 0.05 ;; *) break ;; esac
    done
    echo "$n / ($(now) - $t0)" | bc -l
    echo "$state" | sed 's/.*"nodes":/  nodes: /' >&2
}

stop_all() { for p in "${pids[@]}"; do kill "$p"; wait "$p" || true; done; pids=(); }

# sqlite/1
key=$("$fr" user add alice --data "$tmp/sq" 2>/dev/null)
serve "$tmp/sq" s1
printf 'sqlite/1  %6.2f images/s\n' "$(run_job "$port" "$key")"
stop_all

# pg/1 and pg/2
url=$("$root/tests/pg-tmp.sh" start "$pgdir")
key=$("$fr" user add alice --data "$url" 2>/dev/null)
serve "$url" p1
ips=$(run_job "$port" "$key")
printf 'pg/1      %6.2f images/s (%.0f%% of local)\n' "$ips" "$(echo "100 * $ips / $local_ips" | bc -l)"
stop_all
psql "$url" -qc "DELETE FROM images; DELETE FROM jobs;" >/dev/null
serve "$url" p1
p1=$port
serve "$url" p2
ips=$(run_job "$p1" "$key")
printf 'pg/2      %6.2f images/s (%.0f%% of local)\n' "$ips" "$(echo "100 * $ips / $local_ips" | bc -l)"
