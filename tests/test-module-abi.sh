#!/usr/bin/env bash
# The registry's side of the backend-module ABI (issue 16), with fake
# modules (tests/fake-backend-module.c) so that it runs in every build:
# a valid module is listed with its devices and used by --device cuda; a
# module with another API version, one whose entry point refuses the
# program, one whose backend implements another version of the backend
# interface table, and a library without the entry point are each refused with a
# message naming the file and the reason, and --device auto then runs on
# the CPU.
# Usage: test-module-abi.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
models="${FACEREC_MODELS:-$src/models}"
photo="${FACEREC_TESTDATA:-$src/../shared/testdata/face_recognition}/examples/obama.jpg"
fake="$build/tests"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; sed 's/^/    /' "$tmp/out" | head -20; }
run() { # module file, args...: output in $tmp/out, exit status in $rc
    local m=$1
    shift
    FACEREC_MODULE_PATH="$m" "$build/facerec" "$@" >"$tmp/out" 2>&1
    rc=$?
}
has() { grep -qF -- "$2" "$tmp/out" && ok || bad "$1: lacks '$2'"; }

m="$fake/libfake-module-ok.so"
run "$m" devices
has "valid module" "cuda  $m: 2 devices"
has "valid module" "      1: fake card"
run "$m" detect --device cuda --models "$models" "$photo"
[ "$rc" != 0 ] && ok || bad "fake backend_new should fail"
has "valid module, --device cuda" "the fake backend cannot run anything"
run "$m" detect --device cpu --models "$models" "$photo"
[ "$rc" = 0 ] && ok || bad "--device cpu with a fake module: exit $rc"

m="$fake/libfake-module-v99.so"
run "$m" devices
has "version 99" "cuda  not available: cannot use $m: it is backend 'cuda' version 99, expected 'cuda' version 1"
m="$fake/libfake-module-refuses.so"
run "$m" detect --device cuda --models "$models" "$photo"
[ "$rc" != 0 ] && ok || bad "a refusing module: --device cuda should fail"
has "refuses" "device cuda: cannot use $m: module API version 2, the program's is 1"
run "$m" detect --models "$models" "$photo"
[ "$rc" = 0 ] && grep -q 'obama.jpg,' "$tmp/out" && ok || bad "auto with a refusing module: exit $rc"
# A module whose backend implements another version of the backend
# interface table: refused when the backend is made, not called.
m="$fake/libfake-module-iface99.so"
run "$m" detect --device cuda --models "$models" "$photo"
[ "$rc" != 0 ] && ok || bad "a backend of interface version 99: --device cuda should fail"
has "interface 99" "backend cuda implements backend interface version 99, the program's is 1"
m="$fake/libfake-module-none.so"
run "$m" devices
has "no entry point" "cuda  not available: cannot use $m: no fr_backend_module_init symbol: not a facerec backend module"
# Not a shared object at all.
echo "not an ELF file" >"$tmp/libfacerec-cuda.so"
run "$tmp" detect --device cuda --models "$models" "$photo"
has "garbage file" "device cuda: cannot load $tmp/libfacerec-cuda.so: "

echo "test-module-abi: $pass passed, $fail failed"
[ "$fail" = 0 ]
