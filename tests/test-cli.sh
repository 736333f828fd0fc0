#!/usr/bin/env bash
# CLI behaviour on good and bad input: exit codes, messages that name the
# file, and face_recognition's CLI results on its own example photos.
# Usage: test-cli.sh BUILD_DIR SOURCE_DIR
set -u
source "$(dirname "$0")/cli-util.sh"
cli_paths "$1" "$2"

# usage and help
check "version" 0 "$bin" --version
expect "version" out "facerec "
check "help" 0 "$bin" --help
expect "help lists commands" out "identify"
for c in detect embed compare identify cluster; do
    check "$c --help" 0 "$bin" "$c" --help
    expect "$c --help" out "usage: facerec $c"
done
check "unknown command" 2 "$bin" frobnicate
check "no files" 2 "$bin" detect
check "unknown option" 2 "$bin" detect --frobnicate x.jpg
check "bad number" 2 "$bin" identify --tolerance abc a b
expect "bad number" err "--tolerance"

# missing models
check "missing models" 1 "$bin" detect --models "$tmp/nomodels" "$data/examples/obama.jpg"
expect "missing models" err "$tmp/nomodels/ssd_mobilenetv1_model-weights_manifest.json"
expect "missing models" err "fetch-models"

# bad inputs are reported and skipped
check "missing file" 1 "$bin" detect "$tmp/nope.jpg"
expect "missing file" err "$tmp/nope.jpg"
head -c 3000 "$data/examples/obama.jpg" >"$tmp/truncated.jpg"
printf 'not an image at all' >"$tmp/garbage.jpg"
: >"$tmp/empty.png"
check "bad files reported, good one processed" 1 "$bin" detect "$tmp/garbage.jpg" "$tmp/empty.png" \
    "$tmp/truncated.jpg" "$data/examples/obama.jpg"
expect "garbage" err "$tmp/garbage.jpg: unsupported image format"
expect "empty" err "$tmp/empty.png"
expect "truncated" err "$tmp/truncated.jpg: truncated or corrupt JPEG"
expect "good file after bad ones" out "$data/examples/obama.jpg,"

# a directory with a corrupt JPEG, a text file and a good photo
mkdir -p "$tmp/dir/sub"
head -c 20000 "$data/examples/biden.jpg" >"$tmp/dir/corrupt.jpg"
echo "just some notes" >"$tmp/dir/notes.txt"
cp "$data/examples/obama.jpg" "$tmp/dir/sub/good.jpg"
check "directory walk" 1 "$bin" detect --quiet "$tmp/dir"
expect "directory: corrupt reported" err "$tmp/dir/corrupt.jpg"
expect "directory: good processed" out "$tmp/dir/sub/good.jpg,"
if grep -q notes.txt "$tmp/out" "$tmp/err"; then
    fail=$((fail + 1))
    echo "FAIL: the text file was not skipped"
else pass=$((pass + 1)); fi

# detect / embed outputs
check "detect two people" 0 "$bin" detect "$data/examples/two_people.jpg"
expect_lines "detect two people" out 2
check "detect --landmarks" 0 "$bin" detect --landmarks "$data/examples/obama.jpg"
if [ "$(head -1 "$tmp/out" | tr ',' '\n' | wc -l)" = 142 ]; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: detect --landmarks: expected 6 + 136 fields"
fi
check "embed json" 0 "$bin" embed --json "$data/examples/obama.jpg"
expect "embed json" out '"embedding":['
expect "embed json" out '"landmarks":[['
check "embed text" 0 "$bin" embed "$data/examples/obama.jpg"
if [ "$(head -1 "$tmp/out" | tr ',' '\n' | wc -l)" = 134 ]; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: embed text: expected 6 + 128 fields"
fi
check "tiny detector" 0 "$bin" detect --detector tiny "$data/examples/two_people.jpg"
expect_lines "tiny detector" out 2

# compare
check "compare same" 0 "$bin" compare "$data/examples/obama.jpg" "$data/examples/obama2.jpg"
expect "compare same" out "same person"
check "compare different" 0 "$bin" compare "$data/examples/obama.jpg" "$data/examples/biden.jpg"
expect "compare different" out "different people"

# identify (face_recognition's knn example)
check "identify" 0 "$bin" identify --quiet "$knn/train" "$knn/test"
expect "identify obama1" out "$knn/test/obama1.jpg,obama"
expect "identify alex" out "$knn/test/alex_lacamoire1.jpg,alex_lacamoire"
expect "identify kit" out "$knn/test/kit_with_rose.jpg,kit_harington"
expect "identify rose" out "$knn/test/kit_with_rose.jpg,rose_leslie"
expect "identify obama+biden (obama)" out "$knn/test/obama_and_biden.jpg,obama"
expect "identify obama+biden (biden)" out "$knn/test/obama_and_biden.jpg,biden"
expect "identify johnsnow" out "$knn/test/johnsnow_test1.jpg,kit_harington"
expect_lines "identify: one line per face" out 7
cp "$data/examples/obama.jpg" "$tmp/obama_known.jpg"
mkdir -p "$tmp/known"
cp "$data/examples/obama.jpg" "$tmp/known/barack.jpg"
check "identify with name.jpg known files" 0 "$bin" identify --show-distance "$tmp/known" "$data/examples/biden.jpg" \
    "$data/examples/obama2.jpg"
expect "unknown_person" out "$data/examples/biden.jpg,unknown_person,None"
expect "known by file name" out "$data/examples/obama2.jpg,barack,0."
printf 'P3\n1 1\n255\n0 0 0\n' >"$tmp/blank.ppm"
check "identify: no face" 0 "$bin" identify "$tmp/known" "$models/samples/sample1.jpg"
check "identify: no known people" 1 "$bin" identify "$tmp/dir/sub/../../nope" "$data/examples/obama.jpg"

# cluster
check "cluster" 0 "$bin" cluster --quiet --out "$tmp/clusters" "$knn"
expect "cluster" err "16 faces in 5 people"
expect "cluster" out "person_5: 2 faces"
if [ "$(find "$tmp/clusters" -name '*.jpg' | wc -l)" = 16 ]; then pass=$((pass + 1)); else
    fail=$((fail + 1))
    echo "FAIL: cluster --out wrote $(find "$tmp/clusters" -name '*.jpg' | wc -l) crops, expected 16"
fi
check "cluster json" 0 "$bin" cluster --quiet --json "$knn/train"
expect "cluster json" out '{"groups":[{"name":"person_1"'

# config: the server settings in effect, from flags, environment and file
check "config --help" 0 "$bin" config --help
expect "config --help" out "--max-batch-size N"
expect "config --help" out "GPU_BATCH_SIZE"
check "config defaults" 0 env -u FACEREC_MODELS "$bin" config
expect "config defaults" out "max_batch_size = 128"
printf '[batching]\nmax_queue_delay_ms = 9\n' >"$tmp/fr.ini"
check "config flag, env, file" 0 env FACEREC_MAX_WORKERS=3 "$bin" config --max-batch-size=256 --config "$tmp/fr.ini"
expect "config flag" out "max_batch_size = 256"
expect "config flag source" out "; flag --max-batch-size"
expect "config env" out "max_workers = 3"
expect "config env source" out "; env FACEREC_MAX_WORKERS"
expect "config file" out "max_queue_delay_ms = 9"
expect "config file source" out "; file:$tmp/fr.ini:2"
cp "$tmp/out" "$tmp/dump.ini"
check "config dump reloads" 0 "$bin" config --config "$tmp/dump.ini"
expect "config dump reloads" out "max_batch_size = 256"
check "config invalid value" 2 "$bin" config --max-batch-size 5000
expect "config invalid value" err "max_batch_size = 5000 (flag --max-batch-size): must be an integer in [1, 4096]"
check "config invalid env" 2 env FACEREC_DEVICE=tpu "$bin" config
expect "config invalid env" err "FACEREC_DEVICE"
check "config unknown flag" 2 "$bin" config --gpu-batch-size 4
expect "config unknown flag" err "use --max-batch-size"

cli_done
