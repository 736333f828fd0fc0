#!/usr/bin/env bash
# The demo: detect, landmark and describe every face of face-api's sample
# photos and the face_recognition test photos, then compare two faces.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
models=${FACEREC_MODELS:-$root/models}
data=$root/../shared/testdata/face_recognition
bin=$build/facerec
echo "== facerec detect on face-api's sample photos"
"$bin" --models "$models" detect "$models"/samples/sample*.jpg
if [ -d "$data" ]; then
    echo "== facerec detect on face_recognition's example photos"
    "$bin" --models "$models" detect "$data"/examples/*.jpg "$data"/examples/*.png
    echo "== facerec compare: obama.jpg vs obama2.jpg (same person), obama.jpg vs biden.jpg (different)"
    "$bin" --models "$models" compare "$data/examples/obama.jpg" "$data/examples/obama2.jpg"
    "$bin" --models "$models" compare "$data/examples/obama.jpg" "$data/examples/biden.jpg"
fi
