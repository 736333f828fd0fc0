#!/usr/bin/env bash
# Install the Debian 12 packages that facerec's build and tests need.
# Idempotent: installs only what is missing; runs `apt-get update` only then.
# Usage: scripts/install-deps.sh
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  clang libclang-rt-14-dev            # clang + libFuzzer / sanitizer runtimes
  libdnnl-dev                         # oneDNN inference backend
  libturbojpeg0-dev libjpeg-turbo-progs
  libpng-dev libwebp-dev libheif-dev
  libjxl-dev libtiff-dev libgif-dev libraw-dev liblcms2-dev   # JPEG XL, TIFF, GIF, camera RAW, ICC (issue 17)
  libavif-dev                         # tests: 10-bit AVIF fixtures
  libjxl-tools libtiff-tools imagemagick libimage-exiftool-perl  # tests: cjxl, tiffcp, convert, exiftool
  libmicrohttpd-dev libcjson-dev libsqlite3-dev libinih-dev
  libssl-dev                          # libcrypto: SHA-256 and randomness for API keys
  libncurses-dev libcurl4-openssl-dev
  libcairo2-dev                       # facerec bench --plot
  libcmocka-dev
  prometheus                          # promtool: tests/test-promtool.sh checks GET /metrics
  chromium                            # headless browser for the web app's tests (tests/web)
  libpq-dev                           # the PostgreSQL store (data = postgresql://...)
  postgresql                          # tests/pg-tmp.sh: a throwaway server for test-store-pg, test-cluster-pg
  ca-certificates
  dpkg-dev lintian adduser curl       # make deb, test-packages (installs, runs, purges the packages)
)

# node/npm are often installed outside apt (e.g. node 20 + npm 11); only fall
# back to Debian's packages when the commands are absent from PATH.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm  >/dev/null 2>&1 || PACKAGES+=(npm)

is_installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present, nothing to do"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and sudo not found; install as root: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
echo "install-deps: installing ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
