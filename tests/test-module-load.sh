#!/usr/bin/env bash
# The CUDA backend as a module (libfacerec-cuda.so, issue 16): the program
# has no CUDA in its dynamic section, runs on the CPU when the module or the
# libraries it needs are missing, and `--device cuda` then names exactly
# what is missing. Needs a build with the CUDA backend (FACEREC_CUDA=AUTO
# finds the toolkit); exits 77 (skipped) otherwise.
# Usage: test-module-load.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
models="${FACEREC_MODELS:-$src/models}"
photo="${FACEREC_TESTDATA:-$src/../shared/testdata/face_recognition}/examples/obama.jpg"
module="$build/libfacerec-cuda.so"
if [ ! -f "$module" ]; then
    echo "SKIP: $module not built (configure with the CUDA toolkit, cuDNN and cuBLAS)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; sed 's/^/    /' "$tmp/out" "$tmp/err" 2>/dev/null | head -20; }
# run NAME WANT_RC ENV... -- CMD...: a scrubbed environment (no
# LD_LIBRARY_PATH, nothing inherited but PATH).
run() {
    local name=$1 want=$2
    shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env -i PATH=/usr/bin:/bin HOME="$tmp" "${envs[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if { [ "$want" = nonzero ] && [ "$got" != 0 ]; } || [ "$got" = "$want" ]; then ok; else bad "$name: exit $got, expected $want"; fi
}
has() { # name, file, fixed text
    if grep -qF -- "$3" "$tmp/$2"; then ok; else bad "$1: $2 lacks '$3'"; fi
}

# 1. No CUDA, cuDNN or cuBLAS in the program's dynamic section; the module
# has them.
if readelf -d "$build/facerec" | grep NEEDED | grep -Eiq 'cuda|cudnn|cublas'; then
    readelf -d "$build/facerec" | grep NEEDED >"$tmp/out"; bad "facerec NEEDs a CUDA library"
else ok; fi
if readelf -d "$module" | grep NEEDED | grep -q 'libcudnn'; then ok; else bad "module does not NEED libcudnn"; fi

# 2. FACEREC_MODULE_PATH at an empty directory hides the module: auto runs
# on the CPU, cuda names the file it looked for.
mkdir "$tmp/empty"
run "auto, no module" 0 FACEREC_MODULE_PATH="$tmp/empty" -- "$build/facerec" detect --models "$models" "$photo"
has "auto, no module" out "obama.jpg,"
run "cuda, no module" nonzero FACEREC_MODULE_PATH="$tmp/empty" -- \
    "$build/facerec" detect --device cuda --models "$models" "$photo"
has "cuda, no module" err "device cuda: libfacerec-cuda.so not found (looked for $tmp/empty/libfacerec-cuda.so)"
run "devices, no module" 0 FACEREC_MODULE_PATH="$tmp/empty" -- "$build/facerec" devices
has "devices, no module" out "cpu   built in"
has "devices, no module" out "cuda  not available: libfacerec-cuda.so not found"

# 3. The module moved away: a copy of the program in a directory of its
# own, no FACEREC_MODULE_PATH; the default search starts next to it.
mkdir -p "$tmp/bin"
cp "$build/facerec" "$tmp/bin/facerec"
run "auto, module moved away" 0 -- "$tmp/bin/facerec" detect --models "$models" "$photo"
has "auto, module moved away" out "obama.jpg,"
run "cuda, module moved away" nonzero -- "$tmp/bin/facerec" detect --device cuda --models "$models" "$photo"
has "cuda, module moved away" err "looked for $tmp/bin/libfacerec-cuda.so, $tmp/bin/../lib/facerec/libfacerec-cuda.so"
# ... and found in ../lib/facerec, as an install under a prefix lays it out
# (the installed copy, from cmake --install; with a multiarch libdir it is
# found through FR_MODULE_DIR instead, so the layout is rebuilt here).
cmake --install "$build" --prefix "$tmp/inst" --component cuda >/dev/null
inst_module=$(find "$tmp/inst" -name libfacerec-cuda.so | head -1)
mkdir -p "$tmp/layout/bin" "$tmp/layout/lib/facerec"
cp "$build/facerec" "$tmp/layout/bin/facerec"
cp "$inst_module" "$tmp/layout/lib/facerec/"
run "devices, installed layout" 0 -- "$tmp/layout/bin/facerec" devices
has "devices, installed layout" out "cuda  $tmp/layout/bin/../lib/facerec/libfacerec-cuda.so: "

# 4. The module present but libcudnn unresolvable. The installed copy has
# no RUNPATH; the loader is run with --inhibit-cache, so /etc/ld.so.cache
# (where a toolkit install registers its directory) is not consulted, and
# its library path holds cuBLAS only. dlopen then fails on libcudnn, and
# the message names it.
if readelf -d "$inst_module" | grep -q 'R.*PATH'; then
    readelf -d "$inst_module" >"$tmp/out"; bad "installed module has a RUNPATH"
else ok; fi
ldso=$(readelf -l "$build/facerec" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')
mkdir "$tmp/cublas-only"
for lib in libcublas.so.13 libcublasLt.so.13; do
    p=$(ldd "$module" | awk -v l="$lib" '$1 == l { print $3 }')
    [ -n "$p" ] && ln -s "$p" "$tmp/cublas-only/$lib"
done
run "cuda, no cudnn" nonzero FACEREC_MODULE_PATH="$inst_module" -- \
    "$ldso" --inhibit-cache --library-path "$tmp/cublas-only" "$build/facerec" detect --device cuda \
    --models "$models" "$photo"
has "cuda, no cudnn" err "device cuda: cannot load $inst_module: libcudnn.so.9: cannot open shared object file"
run "auto, no cudnn" 0 FACEREC_MODULE_PATH="$inst_module" -- \
    "$ldso" --inhibit-cache --library-path "$tmp/cublas-only" "$build/facerec" detect --models "$models" "$photo"
has "auto, no cudnn" out "obama.jpg,"
run "devices, no cudnn" 0 FACEREC_MODULE_PATH="$inst_module" -- \
    "$ldso" --inhibit-cache --library-path "$tmp/cublas-only" "$build/facerec" devices
has "devices, no cudnn" out "cuda  not available: cannot load $inst_module: libcudnn.so.9"
# The control: the same file, the loader's usual search. It loads (and,
# without a GPU, reports no device); so the failure above was cuDNN's.
if [ -n "$(ldd "$inst_module" | awk '$1 == "libcudnn.so.9" && $3 != "not" { print $3 }')" ]; then
    run "devices, same module, cudnn found" 0 FACEREC_MODULE_PATH="$inst_module" -- "$build/facerec" devices
    has "devices, same module, cudnn found" out "cuda  $inst_module: "
fi

echo "test-module-load: $pass passed, $fail failed"
[ "$fail" = 0 ]
