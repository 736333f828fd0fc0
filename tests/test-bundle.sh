#!/usr/bin/env bash
# The GPU bundle (make gpu-bundle, issue 16), unpacked in a clean directory
# and run with LD_LIBRARY_PATH pointing only at its lib/: every library the
# programs need resolves from the bundle (glibc and NVIDIA's excepted),
# `facerec detect` works on the CPU, the module loads from the bundle, the
# NVIDIA pip-wheel folders are found (a fake site-packages whose
# nvidia/cudnn/lib and nvidia/cu13/lib are the only place the loader can find
# cuDNN and cuBLAS), and gpu-check.sh says plainly that there is no GPU.
# Usage: test-bundle.sh BUNDLE.tar.gz
set -u
tgz=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -f "$tgz" ] || { echo "SKIP: no bundle $1 (make gpu-bundle needs the CUDA backend)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; sed 's/^/    /' "$tmp/out" 2>/dev/null | head -20; }
t0=$(date +%s)

mkdir "$tmp/clean"
tar -C "$tmp/clean" -xzf "$tgz" || { echo "FAIL: cannot unpack $tgz"; exit 1; }
d=$(echo "$tmp"/clean/facerec-gpu-*)
[ -x "$d/bin/facerec" ] && [ -x "$d/run" ] && [ -x "$d/gpu-check.sh" ] && ok || bad "bundle layout: $(ls "$d")"
(cd "$d" && sha256sum --quiet -c MANIFEST.txt) >"$tmp/out" 2>&1 && ok || bad "MANIFEST.txt does not verify"
clean_env=(env -i PATH=/usr/bin:/bin HOME="$tmp" FACEREC_BUNDLE_QUIET=1)

# 1. Every library resolves from lib/ with LD_LIBRARY_PATH at it alone.
for f in "$d"/bin/* "$d/lib/facerec/libfacerec-cuda.so"; do
    "${clean_env[@]}" LD_LIBRARY_PATH="$d/lib" ldd "$f" >"$tmp/ldd" 2>&1
    awk -v d="$d/lib/" '$2 == "=>" {
        name = $1; path = $3
        if (name ~ /^(libc|libm|libdl|librt|libpthread|libresolv|libutil|libanl|libnsl)\.so/ || name ~ /^ld-linux/) next
        if (name ~ /^(libcuda|libcudart|libcublas|libcudnn|libnvidia|libnvrtc|libnvJitLink)/) next
        if (index(path, d) != 1) print name " => " path
    }' "$tmp/ldd" >"$tmp/out"
    [ -s "$tmp/out" ] && bad "$(basename "$f"): libraries from outside the bundle" || ok
done

# 2. detect on the CPU from the clean directory, straight and through run.
(cd "$tmp/clean" && "${clean_env[@]}" LD_LIBRARY_PATH="$d/lib" FACEREC_MODULE_PATH="$d/lib/facerec" \
    "$d/bin/facerec" detect --models "$d/models" "$d/testdata/examples/obama.jpg") >"$tmp/out" 2>&1
grep -q 'obama.jpg,.*,0\.9' "$tmp/out" && ok || bad "detect with LD_LIBRARY_PATH=lib"
(cd "$tmp/clean" && "${clean_env[@]}" "$d/run" facerec detect --device cpu "$d/testdata/examples/two_people.jpg") \
    >"$tmp/out" 2>&1
[ "$(grep -c 'two_people.jpg,' "$tmp/out")" = 2 ] && ok || bad "./run facerec detect: two faces"
"${clean_env[@]}" "$d/run" facerec devices >"$tmp/out" 2>&1
grep -qE "^cuda  ($d/lib/facerec/libfacerec-cuda.so: |not available: cannot load $d/lib/facerec/libfacerec-cuda.so)" \
    "$tmp/out" && ok || bad "devices: the bundle's module"

# 3. pip wheels: a fake site-packages laid out as NVIDIA's CUDA 13 wheels
# (nvidia/cudnn/lib, nvidia/cu13/lib) holding this machine's libraries. With
# the loader's cache off (--inhibit-cache) those folders are the only way
# to cuDNN and cuBLAS: the module loads with them and not without.
ldso=$(readelf -l "$d/bin/facerec" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')
cudnn=$(ldd "$d/lib/facerec/libfacerec-cuda.so" | awk '$1 == "libcudnn.so.9" && $3 ~ /^\// { print $3 }')
cublas=$(ldd "$d/lib/facerec/libfacerec-cuda.so" | awk '$1 == "libcublas.so.13" && $3 ~ /^\// { print $3 }')
if [ -n "$cudnn" ] && [ -n "$cublas" ]; then
    sp="$tmp/venv/lib/python3.11/site-packages"
    mkdir -p "$sp/nvidia/cudnn/lib" "$sp/nvidia/cu13/lib"
    for f in "$(dirname "$cudnn")"/libcudnn*.so.9; do ln -s "$f" "$sp/nvidia/cudnn/lib/"; done
    for f in "$(dirname "$cublas")"/libcublas*.so.13; do ln -s "$f" "$sp/nvidia/cu13/lib/"; done
    # through env.sh, as run and gpu-check.sh use it
    libpath=$("${clean_env[@]}" FACEREC_NVIDIA_PATH="$sp" bash -c ". '$d/env.sh'; echo \"\$LD_LIBRARY_PATH\"")
    case "$libpath" in
    "$d/lib:"*"$sp/nvidia/cu13/lib"* | "$d/lib:"*"$sp/nvidia/cudnn/lib"*) ok ;;
    *) echo "$libpath" >"$tmp/out"; bad "env.sh did not add the wheel folders" ;;
    esac
    libpath=$("${clean_env[@]}" VIRTUAL_ENV="$tmp/venv" bash -c ". '$d/env.sh'; echo \"\$LD_LIBRARY_PATH\"")
    case "$libpath" in *"$sp/nvidia/cudnn/lib"*) ok ;; *) echo "$libpath" >"$tmp/out"; bad "VIRTUAL_ENV not searched" ;; esac
    "${clean_env[@]}" FACEREC_MODULE_PATH="$d/lib/facerec" "$ldso" --inhibit-cache --library-path \
        "$("${clean_env[@]}" FACEREC_NVIDIA_PATH="$sp" bash -c ". '$d/env.sh'; echo \"\$LD_LIBRARY_PATH\"")" \
        "$d/bin/facerec" devices >"$tmp/out" 2>&1
    grep -q "^cuda  $d/lib/facerec/libfacerec-cuda.so: " "$tmp/out" && ok || bad "module with the wheels' cuDNN"
    "${clean_env[@]}" FACEREC_MODULE_PATH="$d/lib/facerec" "$ldso" --inhibit-cache --library-path "$d/lib" \
        "$d/bin/facerec" devices >"$tmp/out" 2>&1
    grep -q "^cuda  not available: cannot load $d/lib/facerec/libfacerec-cuda.so: libcu" "$tmp/out" && ok ||
        bad "module without the wheels should not load"
else
    echo "note: cuDNN/cuBLAS not on this machine; the pip-wheel check is skipped"
fi

# 4. gpu-check.sh without a GPU: exit 2 and a report that says so.
(cd "$tmp/clean" && "${clean_env[@]}" "$d/gpu-check.sh" --out "$tmp/clean/report.md") >"$tmp/out" 2>&1
rc=$?
if grep -qE '^cuda  .*: [1-9][0-9]* devices?' "$tmp/clean/report.md" 2>/dev/null; then
    echo "note: this machine has a GPU; gpu-check.sh exit $rc"
else
    [ "$rc" = 2 ] && grep -q "no usable GPU" "$tmp/clean/report.md" && grep -q "not a GPU result" "$tmp/clean/report.md" \
        && ok || bad "gpu-check.sh without a GPU: exit $rc"
fi

echo "test-bundle: $pass passed, $fail failed in $(($(date +%s) - t0)) s"
[ "$fail" = 0 ]
