#!/usr/bin/env bash
# Builds the Debian packages from a Release build tree (make deb):
#   facerec         the program (CLI and server), facerec.service, /etc/facerec/facerec.ini
#   facerec-cuda    the CUDA backend module /usr/lib/facerec/libfacerec-cuda.so
#                   (only when the build has it)
#   facerec-models  the face-api models, verified against scripts/models.sha256
# with dpkg-deb from staging trees that `cmake --install --component` fills,
# then runs lintian on them (packaging/deb/lintian: why each remaining tag is
# accepted).
# Usage: packaging/build-deb.sh BUILD_DIR OUT_DIR [MODELS_DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:?usage: build-deb.sh BUILD_DIR OUT_DIR [MODELS_DIR]}" && pwd)
out=${2:?usage: build-deb.sh BUILD_DIR OUT_DIR [MODELS_DIR]}
models=${3:-${FACEREC_MODELS:-$root/models}}
deb="$root/packaging/deb"
die() { echo "build-deb: $*" >&2; exit 1; }

[ -x "$build/facerec" ] || die "$build/facerec not built (make build)"
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" || die "$build is not a Release build"
"$root/scripts/fetch-models.sh" --verify --models "$models" >/dev/null \
    || die "models in $models do not verify (make models)"

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || die "no project version in $build/CMakeCache.txt"
debver="$version-1"
arch=$(dpkg --print-architecture)
maint="facerec maintainers <facerec@example.org>"
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Files every package has: copyright, changelog; md5sums at the end.
common_doc() { # pkg copyright-file
    local d="$work/$1/usr/share/doc/$1"
    install -d -m 755 "$d"
    install -m 644 "$2" "$d/copyright"
    sed "s/@VERSION@/$debver/; s/^facerec /$1 /" "$deb/changelog" | gzip -9n >"$d/changelog.Debian.gz"
    chmod 644 "$d/changelog.Debian.gz"
}
finish() { # pkg: md5sums, Installed-Size, build
    local p="$work/$1"
    (cd "$p" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
        xargs -r md5sum) >"$p/DEBIAN/md5sums"
    chmod 644 "$p/DEBIAN/md5sums"
    local size
    size=$(du -sk --exclude=DEBIAN "$p" | cut -f1)
    sed -i "s/@SIZE@/$size/" "$p/DEBIAN/control"
    dpkg-deb --root-owner-group -Zxz --build "$p" "$out/${1}_${debver}_$2.deb" >/dev/null
    echo "build-deb: $out/${1}_${debver}_$2.deb"
}
# Runtime dependencies of ELF files, from the shlibs of installed packages.
shlibdeps() { # files...
    mkdir -p "$work/shl/debian"
    printf 'Source: facerec\n\nPackage: facerec\nArchitecture: any\n' >"$work/shl/debian/control"
    (cd "$work/shl" && dpkg-shlibdeps -O --ignore-missing-info --warnings=0 "$@" 2>/dev/null) |
        sed -n 's/^shlibs:Depends=//p'
}

# ---- facerec
p="$work/facerec"
DESTDIR="$p" cmake --install "$build" --prefix /usr --component main >/dev/null
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$p/usr/bin/facerec"
install -d -m 755 "$p/etc/facerec" "$p/lib/systemd/system" "$p/usr/share/man/man1" "$p/DEBIAN"
install -m 644 "$deb/facerec.ini" "$p/etc/facerec/facerec.ini"
install -m 644 "$deb/facerec.service" "$p/lib/systemd/system/facerec.service"
gzip -9n <"$deb/facerec.1" >"$p/usr/share/man/man1/facerec.1.gz"
chmod 644 "$p/usr/share/man/man1/facerec.1.gz"
common_doc facerec "$deb/copyright"
install -m 644 "$root/docs/PACKAGING.md" "$p/usr/share/doc/facerec/PACKAGING.md"
for s in postinst prerm postrm; do install -m 755 "$deb/$s" "$p/DEBIAN/$s"; done
echo /etc/facerec/facerec.ini >"$p/DEBIAN/conffiles"
install -d -m 755 "$p/usr/share/lintian/overrides"
install -m 644 "$deb/lintian/facerec" "$p/usr/share/lintian/overrides/facerec"
cat >"$p/DEBIAN/control" <<CTL
Package: facerec
Version: $debver
Architecture: $arch
Maintainer: $maint
Installed-Size: @SIZE@
Depends: $(shlibdeps "$p/usr/bin/facerec"), adduser, facerec-models (= $debver)
Suggests: facerec-cuda
Section: science
Priority: optional
Homepage: https://github.com/facerec/facerec
Description: face detection and recognition server and command line
 facerec runs face-api's neural networks (SSD MobileNet V1 or the tiny face
 detector, 68-point landmarks, the recognition ResNet) on the CPU through
 oneDNN, behind a batching scheduler and an HTTP API with a per-user people
 gallery, and as a command line tool (detect, embed, compare, identify,
 cluster).
 .
 The package runs the server as the facerec.service systemd unit under the
 facerec system user, with its settings in /etc/facerec/facerec.ini and its
 data in /var/lib/facerec. The CUDA backend is the separate package
 facerec-cuda.
CTL
finish facerec "$arch"

# ---- facerec-cuda
if [ -f "$build/libfacerec-cuda.so" ]; then
    p="$work/facerec-cuda"
    DESTDIR="$p" cmake --install "$build" --prefix /usr --component cuda >/dev/null
    # /usr/lib/facerec (found as ../lib/facerec from /usr/bin), or the
    # multiarch libdir when the build was configured with prefix /usr.
    so=$(find "$p" -name libfacerec-cuda.so | head -1)
    [ -n "$so" ] || die "cmake --install put no libfacerec-cuda.so under $p"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$so"
    chmod 644 "$so"
    install -d -m 755 "$p/DEBIAN" "$p/usr/share/lintian/overrides"
    common_doc facerec-cuda "$deb/copyright"
    install -m 644 "$deb/lintian/facerec-cuda" "$p/usr/share/lintian/overrides/facerec-cuda"
    # cuDNN 9 and cuBLAS 13 come from NVIDIA's CUDA repository
    # (developer.download.nvidia.com/compute/cuda/repos/debian12), not from
    # Debian; the CUDA runtime is linked into the module.
    cat >"$p/DEBIAN/control" <<CTL
Package: facerec-cuda
Version: $debver
Architecture: $arch
Maintainer: $maint
Installed-Size: @SIZE@
Depends: $(shlibdeps "$so"), facerec (= $debver), libcudnn9-cuda-13, libcublas-13-0
Recommends: nvidia-driver (>= 580) | cuda-drivers (>= 580)
Section: contrib/science
Priority: optional
Homepage: https://github.com/facerec/facerec
Description: CUDA backend for facerec (NVIDIA GPUs)
 The module libfacerec-cuda.so that facerec loads at run time when it is
 installed: convolutions on cuDNN, fully connected layers on cuBLAS. With
 --device auto facerec uses it when a GPU is usable and the CPU otherwise.
 .
 It needs an NVIDIA driver for CUDA 13 (R580 or newer), cuDNN 9 and cuBLAS
 13, packaged by NVIDIA's CUDA repository for Debian 12
 (libcudnn9-cuda-13, libcublas-13-0), not by Debian.
CTL
    finish facerec-cuda "$arch"
else
    echo "build-deb: $build has no libfacerec-cuda.so (CUDA backend not built): no facerec-cuda package"
fi

# ---- facerec-models
p="$work/facerec-models"
d="$p/usr/share/facerec/models"
install -d -m 755 "$d" "$p/DEBIAN"
while read -r _sum f; do
    case "$f" in samples/*) continue ;; esac
    install -m 644 "$models/$f" "$d/$f"
done <"$root/scripts/models.sha256"
common_doc facerec-models "$deb/copyright-models"
install -d -m 755 "$p/usr/share/lintian/overrides"
install -m 644 "$deb/lintian/facerec-models" "$p/usr/share/lintian/overrides/facerec-models"
cat >"$p/DEBIAN/control" <<CTL
Package: facerec-models
Version: $debver
Architecture: all
Maintainer: $maint
Installed-Size: @SIZE@
Section: science
Priority: optional
Homepage: https://github.com/vladmandic/face-api
Description: face-api neural network models for facerec
 The weights of face-api's nets (SSD MobileNet V1 and tiny face detectors,
 68-point landmarks, face recognition ResNet, and the age/gender and
 expression nets) from the npm package @vladmandic/face-api 1.7.15, checked
 against facerec's pinned SHA-256 sums. MIT license.
CTL
finish facerec-models all

if command -v lintian >/dev/null; then
    echo "build-deb: lintian"
    lintian --fail-on error,warning "$out"/*_"$debver"_*.deb
fi
