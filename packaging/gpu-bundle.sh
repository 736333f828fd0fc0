#!/usr/bin/env bash
# make gpu-bundle: a self-contained tarball to check facerec on a GPU machine
# that has only the NVIDIA driver, the CUDA 13 runtime libraries and cuDNN 9
# (system packages or NVIDIA's pip wheels): no other packages, no network.
#
#   facerec-gpu-VERSION-ARCH/
#     run, env.sh      wrapper: LD_LIBRARY_PATH = lib/ + the wheels' folders
#     gpu-check.sh     the one-command check (scripts/gpu-check.sh)
#     bin/             facerec, fr-bench, test-backend-cuda (stripped)
#     lib/             every shared library they need except glibc's and CUDA's
#     lib/facerec/     libfacerec-cuda.so (no RUNPATH: the loader path finds CUDA)
#     models/          the face-api models (verified), testdata/  photos for the checks
#     README.txt, MANIFEST.txt
# The bundle must stay under 60 MB compressed; the script fails above that.
# Usage: packaging/gpu-bundle.sh BUILD_DIR OUT_DIR [MODELS_DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: gpu-bundle.sh BUILD_DIR OUT_DIR [MODELS_DIR]}" && pwd)
out=${2:?usage: gpu-bundle.sh BUILD_DIR OUT_DIR [MODELS_DIR]}
models=${3:-${FACEREC_MODELS:-$root/models}}
testdata=${FACEREC_TESTDATA:-$root/../shared/testdata/face_recognition}
die() { echo "gpu-bundle: $*" >&2; exit 1; }

for f in facerec fr-bench tests/test-backend-cuda libfacerec-cuda.so; do
    [ -e "$build/$f" ] || die "$build/$f missing (make build with the CUDA toolkit, cuDNN and cuBLAS)"
done
"$root/scripts/fetch-models.sh" --verify --models "$models" >/dev/null || die "models in $models do not verify"
[ -d "$testdata/examples" ] || die "no photos at $testdata"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
arch=$(uname -m)
name="facerec-gpu-$version-$arch"
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
b="$work/$name"
mkdir -p "$b/bin" "$b/lib/facerec" "$b/models" "$b/testdata"

install -m 755 "$build/facerec" "$build/fr-bench" "$build/tests/test-backend-cuda" "$b/bin/"
# The installed copy of the module: its RUNPATH (the build machine's CUDA
# directory) is removed by cmake --install.
DESTDIR="$work/inst" cmake --install "$build" --prefix /x --component cuda >/dev/null
install -m 755 "$(find "$work/inst" -name libfacerec-cuda.so | head -1)" "$b/lib/facerec/"
strip --strip-unneeded "$b"/bin/* "$b/lib/facerec/libfacerec-cuda.so"

# Shared libraries: the closure of what the programs and the module need,
# as this machine's loader resolves it, minus the C library (it must be the
# target's own, matching its loader) and NVIDIA's libraries (the target's).
is_system() {
    case "$1" in
    libc.so.* | libm.so.* | libdl.so.* | librt.so.* | libpthread.so.* | libresolv.so.* | libutil.so.* | \
        libanl.so.* | libnsl.so.* | ld-linux*.so.* | linux-vdso.so.*) return 0 ;;
    libcuda.so.* | libcudart.so.* | libcublas*.so.* | libcudnn*.so.* | libnvidia*.so.* | libnvrtc*.so.* | \
        libnvJitLink*.so.*) return 0 ;;
    esac
    return 1
}
for f in "$build/facerec" "$build/fr-bench" "$build/tests/test-backend-cuda" "$build/libfacerec-cuda.so"; do
    ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
done | sort -u | while read -r soname path; do
    is_system "$soname" && continue
    cp -L "$path" "$b/lib/$soname"
    chmod 644 "$b/lib/$soname"
done
strip --strip-unneeded "$b"/lib/*.so.* 2>/dev/null || true

while read -r _sum f; do
    case "$f" in samples/*) continue ;; esac
    install -m 644 "$models/$f" "$b/models/$f"
done <"$root/scripts/models.sha256"
# Photos: the conformance test's (tests/test_images) and the sweep's (examples/, top level).
mkdir -p "$b/testdata/tests" "$b/testdata/examples"
cp -r "$testdata/tests/test_images" "$b/testdata/tests/"
find "$testdata/examples" -maxdepth 1 -type f -exec cp {} "$b/testdata/examples/" \;
[ -f "$testdata/LICENSE" ] && cp "$testdata/LICENSE" "$b/testdata/LICENSE"

install -m 755 "$root/packaging/bundle/run" "$root/scripts/gpu-check.sh" "$b/"
install -m 644 "$root/packaging/bundle/env.sh" "$b/"
install -m 644 "$root/packaging/deb/copyright-models" "$b/models/COPYRIGHT"
glibc=$(for f in "$b"/bin/* "$b"/lib/*.so* "$b"/lib/facerec/*.so; do objdump -T "$f" 2>/dev/null; done |
    grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
cat >"$b/README.txt" <<TXT
facerec $version GPU bundle ($arch), built $(date -u '+%Y-%m-%d') on $(. /etc/os-release && echo "$PRETTY_NAME")
$(git -C "$root" rev-parse --short HEAD 2>/dev/null | sed 's/^/from commit /')

Needs on the target: Linux $arch with glibc ${glibc#GLIBC_} or newer, an NVIDIA driver for CUDA 13
(R580 or newer), cuBLAS 13 and cuDNN 9: system packages, or NVIDIA's pip wheels, e.g.
    pip install nvidia-cudnn-cu13 nvidia-cublas nvidia-cuda-runtime
(env.sh finds their library folders in the site-packages of python3, a venv, ~/.local, or
FACEREC_NVIDIA_PATH=/path/to/site-packages). Nothing else: every other library is in lib/.

    ./run facerec devices        what the CUDA backend sees (names a missing library)
    ./gpu-check.sh               conformance test, fr-bench on cuda, server sweep -> one markdown report
    ./gpu-check.sh --quick       the same, short
    ./run facerec detect testdata/examples/obama.jpg --device cuda
    ./run --env                  the environment run sets

Details: docs/GPU.md in the facerec sources.
TXT
(cd "$b" && find . -type f | LC_ALL=C sort | xargs sha256sum) >"$work/MANIFEST.txt"
mv "$work/MANIFEST.txt" "$b/MANIFEST.txt"
tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
size=$(stat -c %s "$out/$name.tar.gz")
echo "gpu-bundle: $out/$name.tar.gz ($((size / 1048576)) MiB compressed, $(du -sm "$b" | cut -f1) MiB unpacked)"
[ "$size" -lt $((60 * 1000 * 1000)) ] || die "the bundle is over 60 MB compressed"
