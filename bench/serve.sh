#!/usr/bin/env bash
# Server benchmark: `facerec serve` at saturation (16 concurrent clients
# posting the 38-image set to /v1/embed) against the offline pipeline over
# the same images, then a lone client's latency against the offline time of
# that one image. The load comes from `facerec bench --serve`, which starts
# the server on a free port and stops it. Part of `make bench`; results go
# in docs/PERFORMANCE.md.
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

echo "# facerec serve (defaults) at saturation: facerec bench, 16 clients"
"$build/facerec" bench --serve --models "$models" --concurrency 16 --duration "$seconds" "${imgs[@]}"
echo "# facerec serve (defaults), a lone client"
"$build/facerec" bench --serve --models "$models" --concurrency 1 --requests 40 "$lone"
