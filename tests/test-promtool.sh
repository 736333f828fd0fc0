#!/usr/bin/env bash
# GET /metrics of the real server through `promtool check metrics` (the
# Prometheus linter and parser), with NVML pointed at the fake library so
# that the GPU series are checked too; plus a few values against /status.
# Exit 77 (skipped) when promtool is absent.
# Usage: test-promtool.sh BUILD_DIR SOURCE_DIR FAKE_NVML_LIBRARY
set -u
bin="$1/facerec"
src="$2"
fake="$3"
command -v promtool >/dev/null 2>&1 || { echo "promtool not found (Debian package prometheus): skipped"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "curl not found: skipped"; exit 77; }
models="${FACEREC_MODELS:-$src/models}"
data="${FACEREC_TESTDATA:-$src/../shared/testdata/face_recognition}"
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
check() { # description, command...
    if "${@:2}"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}

printf 'key-a alice\nkey-b "bob\\the\n' >"$tmp/keys"
# Only the variables this test means: the caller's FACEREC_* are not settings.
# Port 0: the server binds a free port and reports it in its start-up line;
# its own data directory keeps the gallery store out of $XDG_DATA_HOME.
env -u FACEREC_TESTDATA FACEREC_NVML_LIBRARY="$fake" "$bin" serve --listen "127.0.0.1:0" --data "$tmp/data" \
    --api-keys-file "$tmp/keys" --models "$models" --log-level warn --metrics-top-users 1 2>"$tmp/log" &
pid=$!
port=
for _ in $(seq 1200); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/log"; echo "FAIL: server exited"; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/log"; echo "FAIL: the server reported no port"; exit 1; }
url="http://127.0.0.1:$port"
for _ in $(seq 1200); do
    curl -sf "$url/readyz" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/log"; echo "FAIL: server exited"; exit 1; }
    sleep 0.1
done

img="$data/examples/two_people.jpg"
curl -s -o /dev/null -H 'X-API-Key: key-a' -H 'Content-Type: image/jpeg' --data-binary @"$img" "$url/v1/detect"
curl -s -o /dev/null -H 'X-API-Key: key-a' -H 'Content-Type: image/jpeg' --data-binary @"$img" "$url/v1/embed"
curl -s -o /dev/null -H 'X-API-Key: key-b' -H 'Content-Type: image/jpeg' --data-binary 'not an image' "$url/v1/detect"
curl -s -o /dev/null "$url/no/such/route"
curl -s -o /dev/null "$url/status"

curl -s -D "$tmp/headers" -o "$tmp/metrics" "$url/metrics"
curl -s -o "$tmp/status" "$url/status"

check "Content-Type is the 0.0.4 text format" grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/headers"
if promtool check metrics <"$tmp/metrics" >"$tmp/promtool" 2>&1; then echo "ok: promtool check metrics"; else
    echo "FAIL: promtool check metrics:"; cat "$tmp/promtool"; fail=1
fi
has() { grep -qF -- "$1" "$tmp/metrics"; }
check "requests by route and status" has 'facerec_http_requests_total{route="/v1/detect",status="200"} 1'
check "failed image counted under its route" has 'facerec_http_requests_total{route="/v1/detect",status="400"} 1'
check "unknown paths are route=other" has 'facerec_http_requests_total{route="other",status="404"} 1'
check "images processed" has 'facerec_images_processed_total 3'
check "one image failed" has 'facerec_images_failed_total 1'
check "batch size histogram per stage" has 'facerec_batch_size_bucket{stage="recognize",le="+Inf"}'
check "queue wait histogram" has 'facerec_queue_wait_seconds_count{queue="admission"} 3'
check "GPU series from NVML (fake)" has 'facerec_gpu_utilization_ratio{gpu="0",name="Fake GPU \"A\\100\""} 0.42'
check "one ranked user, the rest _other" has 'facerec_user_images_submitted_total{user="_other"}'
check "process RSS" grep -q '^process_resident_memory_bytes [1-9]' "$tmp/metrics"
users=$(grep -c '^facerec_user_images_submitted_total{' "$tmp/metrics")
check "user series bounded by metrics_top_users + _other ($users)" test "$users" -le 2
limit=$(sed -n 's/.*"device_limit":\([0-9]*\).*/\1/p' "$tmp/status")
check "device memory limit equals /status ($limit)" has "facerec_device_memory_limit_bytes $limit"
check "/status reports the (fake) GPU" grep -qF '"gpu":{"index":0,"name":"Fake GPU \"A\\100\""' "$tmp/status"

# HEAD and a wrong method.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/metrics")
check "POST /metrics is 405 ($code)" test "$code" = 405

# SIGTERM: a clean exit (under ASan this is where leaks would show).
kill -TERM "$pid"
wait "$pid"
code=$?
pid=
check "server exits 0 on SIGTERM ($code)" test "$code" = 0

if [ "$fail" != 0 ]; then
    echo "--- metrics"; head -c 4000 "$tmp/metrics"; echo "--- server log"; cat "$tmp/log"
fi
exit "$fail"
