#!/usr/bin/env bash
# End-to-end benchmark: facerec and face-api (tfjs-wasm) over the same 38
# photos (the 32 of face_recognition's test data and face-api's 6 demo
# samples). facerec's time includes decoding the files; face-api is handed
# PPMs made by our decoder, so its decoding is not counted.
# Usage: bench/e2e.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-10}
. "$(dirname "$0")/images.sh"
echo "# ${#imgs[@]} images, 2 threads"
"$build/fr-bench-pipeline" --threads 2 --seconds "$seconds" --models "$models" "${imgs[@]}" | tee /tmp/fr-e2e.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
for f in "${imgs[@]}"; do
    "$build/fr-ppm" "$f" "$tmp/$(printf %02d $i).ppm"
    i=$((i + 1))
done
ref=$root/tests/reference
if [ ! -d "$ref/node_modules" ]; then (cd "$ref" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null); fi
node "$ref/reference.js" --backend wasm --models "$models" --out-dir "$tmp/out" --skip-nets --skip-pipeline \
    --bench-pipeline-only --bench-seconds "$seconds" "$tmp"/*.ppm >/dev/null 2>&1
node -e '
const b = require(process.argv[1]).results.find((r) => r.name === "pipeline_ssd_full");
const line = require("fs").readFileSync("/tmp/fr-e2e.txt", "utf8");
const ours = Number(/([0-9.]+) faces\/s/.exec(line)[1]);
const theirs = b.faces_per_iter * 1000 / b.ms_per_iter;
console.log(`face-api (tfjs-wasm, 1 thread): ${b.items_per_s.toFixed(2)} images/s, ${theirs.toFixed(2)} faces/s`);
console.log(`facerec / face-api: ${(ours / theirs).toFixed(1)}x faces/s`);
' "$tmp/out/bench.json"
