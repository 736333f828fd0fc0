#!/usr/bin/env bash
# Issue 17's formats end to end: files made by the encoders' own tools
# (cjxl, convert) go through `facerec detect` and through `facerec serve`
# (POST /v1/detect: body limit, content sniffing, decoding on the workers)
# and find the one face of obama.jpg, as the JPEG does.
# Usage: test-formats-e2e.sh BUILD_DIR SOURCE_DIR
set -u
bin="$(cd "$1" && pwd)/facerec"
src="$2"
models="$(cd "${FACEREC_MODELS:-$src/models}" && pwd)"
data="${FACEREC_TESTDATA:-$src/../shared/testdata/face_recognition}"
tmp=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*"
}

for t in cjxl convert curl; do
    if ! command -v "$t" >/dev/null; then
        echo "test-formats-e2e: $t is not installed (scripts/install-deps.sh installs it)"
        exit 1
    fi
done

photo="$data/examples/obama.jpg"
cp "$photo" "$tmp/obama.jpg"
convert "$photo" "$tmp/obama.png" 2>/dev/null
cjxl -d 1 "$tmp/obama.png" "$tmp/obama.jxl" >/dev/null 2>&1 || bad "cjxl failed"
convert "$photo" -compress lzw "$tmp/obama.tif" 2>/dev/null
convert "$photo" "$tmp/obama.gif" 2>/dev/null
convert "$photo" "$tmp/obama.bmp" 2>/dev/null
# A name that lies: the content decides.
cp "$tmp/obama.jxl" "$tmp/jxl-named.jpg"

# CLI (one run, the models loaded once): one face per file, in the same
# place as in the JPEG (the box's x within a few pixels).
files="obama.jpg obama.jxl obama.tif obama.gif obama.bmp jxl-named.jpg"
(cd "$tmp" && FACEREC_MODELS="$models" "$bin" detect --quiet $files >"$tmp/out" 2>"$tmp/err")
rc=$?
[ "$rc" = 0 ] && ok || { bad "facerec detect: exit $rc"; sed 's/^/    /' "$tmp/err" | head -5; }
ref_x=$(grep '^obama.jpg,' "$tmp/out" | cut -d, -f2 | cut -d. -f1)
for f in $files; do
    n=$(grep -c "^$f," "$tmp/out")
    x=$(grep "^$f," "$tmp/out" | head -1 | cut -d, -f2 | cut -d. -f1)
    if [ "$n" = 1 ] && [ -n "$x" ] && [ -n "$ref_x" ] && [ $((x - ref_x)) -le 6 ] && [ $((ref_x - x)) -le 6 ]; then
        ok
    else
        bad "facerec detect $f: $n faces, x $x (JPEG: $ref_x)"
    fi
done

# Server: port 0, its own data directory, one API key.
printf 'key-e2e e2e\n' >"$tmp/keys"
env -u FACEREC_MODELS -u FACEREC_TESTDATA "$bin" serve --listen 127.0.0.1:0 --api-keys-file "$tmp/keys" \
    --models "$models" --data "$tmp/data" --log-level warn --max-body-bytes 8MiB 2>"$tmp/server.log" &
server=$!
port=""
for _ in $(seq 1 1200); do
    port=$(grep -o '(port [0-9]*' "$tmp/server.log" 2>/dev/null | head -1 | grep -o '[0-9]*$')
    if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$tmp/server.log"
        bad "facerec serve exited"
        exit 1
    fi
    sleep 0.1
done
[ -n "$port" ] || { bad "server did not start"; exit 1; }

post() { # file, content type -> body in $tmp/body, status echoed
    curl -s -o "$tmp/body" -w '%{http_code}' -H "X-API-Key: key-e2e" -H "Content-Type: $2" \
        --data-binary "@$tmp/$1" "http://127.0.0.1:$port/v1/detect"
}
for spec in "obama.jxl image/jxl" "obama.tif image/tiff" "obama.gif image/gif" "obama.bmp image/bmp" \
    "obama.jxl application/octet-stream" "jxl-named.jpg image/jpeg"; do
    set -- $spec
    status=$(post "$1" "$2")
    boxes=$(grep -o '"box"' "$tmp/body" | wc -l)
    if [ "$status" = 200 ] && [ "$boxes" = 1 ]; then ok; else
        bad "POST /v1/detect $1 as $2: HTTP $status, $boxes boxes: $(head -c 300 "$tmp/body")"
    fi
done
# A damaged JPEG XL: a 4xx with a JSON error naming the format.
head -c 2000 "$tmp/obama.jxl" >"$tmp/cut.jxl"
status=$(post cut.jxl image/jxl)
if [ "${status:0:1}" = 4 ] && grep -q 'JPEG XL' "$tmp/body"; then ok; else
    bad "POST a cut JPEG XL: HTTP $status: $(head -c 300 "$tmp/body")"
fi

echo "test-formats-e2e: $pass passed, $fail failed"
[ "$fail" = 0 ]
