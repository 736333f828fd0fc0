#!/usr/bin/env bash
# The demo: facerec's main jobs on the bundled test photos.
#   1. identify: face_recognition's knn example - train/ holds known people
#      (one folder each), test/ unknown photos to name.
#   2. the people gallery: enroll train/ into a throwaway data directory,
#      then name the faces of test/ against it (a stranger is "unknown").
#   3. cluster: group every face of the test photos into people.
#   4. detect on face-api's sample photos.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
models=${FACEREC_MODELS:-$root/models}
data=$root/../shared/testdata/face_recognition
bin="$build/facerec"
if [ ! -d "$data" ]; then
    echo "demo: $data is missing; showing face-api's sample photos only" >&2
else
    knn=$data/examples/knn_examples
    echo "== facerec identify $knn/train $knn/test"
    "$bin" identify --models "$models" --show-distance "$knn/train" "$knn/test"
    echo
    echo "== the people gallery: facerec user add, people add/enroll, search (a temporary --data directory)"
    gallery=$(mktemp -d)
    trap 'rm -rf "$gallery"' EXIT
    g=(--models "$models" --data "$gallery")
    "$bin" user add demo "${g[@]}" >/dev/null 2>&1
    for person in "$knn"/train/*/; do
        name=$(basename "$person")
        id=$("$bin" people add "$name" --user demo "${g[@]}")
        "$bin" people enroll "$id" "$person" --user demo "${g[@]}" >/dev/null
    done
    "$bin" people list --user demo "${g[@]}"
    "$bin" search "$knn/test" "$data/examples/lin-manuel-miranda.png" --user demo "${g[@]}"
    echo
    echo "== facerec cluster (all face_recognition test photos)"
    "$bin" cluster --models "$models" --quiet "$data"
    echo
fi
echo "== facerec detect on face-api's sample photos (path,x,y,width,height,score)"
"$bin" detect --models "$models" --quiet "$models"/samples
