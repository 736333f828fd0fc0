#!/usr/bin/env bash
# CLI behaviour on good and bad input: exit codes and messages that name
# the file. Usage: test-cli.sh BUILD_DIR SOURCE_DIR
set -u
bin="$1/facerec"
src="$2"
models="${FACEREC_MODELS:-$src/models}"
data="${FACEREC_TESTDATA:-$src/../shared/testdata/face_recognition}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() { # name, expected exit code, command...; output in $tmp/out
    local name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    local got=$?
    if [ "$got" = "$want" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $name: exit $got, expected $want"
        sed 's/^/    /' "$tmp/out"
    fi
}
expect_text() { # name, text
    if grep -q -- "$2" "$tmp/out"; then pass=$((pass + 1)); else
        fail=$((fail + 1))
        echo "FAIL: $1: output lacks '$2'"
        sed 's/^/    /' "$tmp/out"
    fi
}

check "version" 0 "$bin" --version
expect_text "version" "facerec "
check "usage error" 2 "$bin" frobnicate
check "no files" 2 "$bin" detect
check "missing models" 1 "$bin" --models "$tmp/nomodels" detect "$data/examples/obama.jpg"
expect_text "missing models" "$tmp/nomodels/ssd_mobilenetv1_model-weights_manifest.json"
expect_text "missing models" "fetch-models"
check "missing file" 1 "$bin" --models "$models" detect "$tmp/nope.jpg"
expect_text "missing file" "$tmp/nope.jpg"
head -c 3000 "$data/examples/obama.jpg" >"$tmp/truncated.jpg"
printf 'not an image at all' >"$tmp/garbage.jpg"
: >"$tmp/empty.png"
check "bad files are reported, good ones still processed" 1 "$bin" --models "$models" detect \
    "$tmp/garbage.jpg" "$tmp/empty.png" "$data/examples/obama.jpg"
expect_text "garbage" "$tmp/garbage.jpg: unsupported image format"
expect_text "empty" "$tmp/empty.png"
expect_text "good file after bad ones" "obama.jpg: 910x1137, 1 face"
check "truncated jpeg" 1 "$bin" --models "$models" detect "$tmp/truncated.jpg"
expect_text "truncated jpeg" "$tmp/truncated.jpg: truncated or corrupt JPEG"
check "json" 0 "$bin" --models "$models" --json embed "$data/examples/obama.jpg"
expect_text "json" '"embedding":\['
check "compare same" 0 "$bin" --models "$models" compare "$data/examples/obama.jpg" "$data/examples/obama2.jpg"
expect_text "compare same" "same person"
check "compare different" 0 "$bin" --models "$models" compare "$data/examples/obama.jpg" "$data/examples/biden.jpg"
expect_text "compare different" "different people"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
