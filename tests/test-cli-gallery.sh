#!/usr/bin/env bash
# facerec people / index / search on a fresh data directory: enroll the knn
# example's training photos, recognize its test photos, index a folder
# twice (the second run skips everything), cluster, merge, rename, delete.
# Usage: test-cli-gallery.sh BUILD_DIR SOURCE_DIR
set -u
source "$(dirname "$0")/cli-util.sh"
cli_paths "$1" "$2"
unset FACEREC_TESTDATA
export FACEREC_DATA="$tmp/data"

check "no users" 1 "$bin" people list
expect "no users" err "facerec user add NAME"
check "user add" 0 "$bin" user add alice
check "user add 2" 0 "$bin" user add bob
check "several users" 1 "$bin" people list
expect "several users" err "--user NAME"
for p in alex_lacamoire biden kit_harington obama rose_leslie; do
    check "add $p" 0 "$bin" people add "$p" --user alice
    id=$(cat "$tmp/out")
    check "enroll $p" 0 "$bin" people enroll "$id" "$knn/train/$p" --user alice --quiet
done
check "list" 0 "$bin" people list --user alice
expect "list" out "obama"
check "list json" 0 "$bin" people list --json --user alice
expect "list json" out '"name":"rose_leslie","faces":2'
check "search" 0 "$bin" search --quiet --user alice "$knn/test" "$data/examples/lin-manuel-miranda.png"
expect "search obama" out "$knn/test/obama1.jpg,obama"
expect "search kit" out "$knn/test/johnsnow_test1.jpg,kit_harington"
expect "search biden" out "$knn/test/obama_and_biden.jpg,biden"
expect "search rose" out "$knn/test/kit_with_rose.jpg,rose_leslie"
expect "search stranger" out "lin-manuel-miranda.png,unknown"
check "search bob" 0 "$bin" search --quiet --user bob "$knn/test/obama1.jpg"
expect "search bob: nothing of alice's" out "obama1.jpg,unknown"
check "index" 0 "$bin" index --quiet --user bob "$data/tests/test_images"
expect "index" out "7 images indexed"
check "index again" 0 "$bin" index --quiet --user bob "$data/tests/test_images"
expect "index again: resumable" out "0 images indexed (0 faces), 7 already indexed"
check "cluster" 0 "$bin" people cluster --min-faces 2 --max-distance 0.5 --user bob
expect "cluster" out "new people"
check "cluster json" 0 "$bin" people cluster --json --user bob
expect "cluster json: incremental, nothing new" out '"people_created":0'
check "rename" 0 "$bin" people rename 1 "Alex L." --user alice
check "merge" 0 "$bin" people merge 4 2 --user alice
check "faces" 0 "$bin" people faces 4 --user alice
expect "faces after merge" out "FACE"
check "delete" 0 "$bin" people delete 4 --user alice
expect "delete" out "and 4 faces"
check "delete again" 1 "$bin" people delete 4 --user alice
expect "delete again" err "no person 4"
check "bob cannot see alice's person" 1 "$bin" people faces 3 --user bob
check "bad id" 2 "$bin" people delete abc --user alice
check "empty name" 1 "$bin" people add "" --user alice
check "usage" 2 "$bin" people frobnicate
check "enroll no face" 1 "$bin" people enroll 3 "$models/samples/../samples" --user alice --quiet --max-faces 1 --min-face-size 5000
cli_done
