#!/usr/bin/env bash
# Server benchmark: `facerec serve` at saturation (16 concurrent clients
# posting the 38-image set to /v1/embed) against the offline pipeline over
# the same images, then a lone client's latency against the offline time of
# that one image. Part of `make bench`; results go in docs/PERFORMANCE.md.
# Usage: bench/serve.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-20}
. "$(dirname "$0")/images.sh"
lone=$data/tests/test_images/obama.jpg

echo "# offline pipeline (fr-bench-pipeline), ${#imgs[@]} images, 2 threads"
"$build/fr-bench-pipeline" --threads 2 --seconds "$seconds" --models "$models" "${imgs[@]}"
echo "# offline pipeline, the lone image alone"
"$build/fr-bench-pipeline" --threads 2 --seconds 5 --models "$models" "$lone"

tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
echo "benchkey bench" > "$tmp/keys"
"$build/facerec" serve --listen "127.0.0.1:$port" --api-keys-file "$tmp/keys" --models "$models" \
    --log-level warn > "$tmp/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 600); do
    if curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1; then break; fi
    sleep 0.1
done
echo "# facerec serve (defaults), fr-bench-serve"
"$build/fr-bench-serve" --url "http://127.0.0.1:$port" --key benchkey --clients 16 --seconds "$seconds" \
    --lone "$lone" --lone-count 40 "${imgs[@]}"
