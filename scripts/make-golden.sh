#!/usr/bin/env bash
# Regenerate the golden reference files tests/golden/pipeline.json and
# tests/golden/nets.json by running @vladmandic/face-api (tfjs wasm backend,
# offline) through tests/reference/reference.js on the pixels that facerec's
# own decoder produces (build/fr-ppm).
#
# Images: every *.jpg/*.jpeg/*.png under ../shared/testdata/face_recognition
# (recursively) plus demo/sample1..6.jpg of the face-api npm package. They are
# converted to PPM in a temp dir and never copied into the repo.
#
# Usage: scripts/make-golden.sh [--backend wasm|cpu] [--out-dir DIR] [--models DIR]
#   --backend   tfjs backend (default wasm: the golden reference)
#   --out-dir   where pipeline.json and nets.json go (default tests/golden)
#   --models    face-api model dir (default $FACEREC_MODELS, else models/)
# Environment:
#   FR_PPM       decoder to use (default build/fr-ppm): FR_PPM IN OUT.ppm
#   FR_TESTDATA  image root (default ../shared/testdata/face_recognition)
#
# Deterministic: running it twice gives byte-identical files.
set -euo pipefail

NPM_PKG='@vladmandic/face-api@1.7.15'
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REF="$ROOT/tests/reference"

die() { echo "make-golden: $*" >&2; exit 1; }
abspath() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }

BACKEND=wasm
OUT_DIR="$ROOT/tests/golden"
MODELS=${FACEREC_MODELS:-$ROOT/models}
while (($#)); do
  case "$1" in
    --backend) (($# >= 2)) || die "--backend needs a value"; BACKEND=$2; shift 2 ;;
    --out-dir) (($# >= 2)) || die "--out-dir needs a value"; OUT_DIR=$2; shift 2 ;;
    --models)  (($# >= 2)) || die "--models needs a value"; MODELS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$BACKEND" == wasm || "$BACKEND" == cpu ]] || die "--backend must be wasm or cpu"

FR_PPM=${FR_PPM:-build/fr-ppm}
if [[ "$FR_PPM" != /* ]]; then  # relative: to the current dir if it is there, else to the repo root
  if [[ -f "$FR_PPM" ]]; then FR_PPM="$(pwd)/$FR_PPM"; else FR_PPM="$ROOT/$FR_PPM"; fi
fi
[[ -x "$FR_PPM" ]] || die "decoder $FR_PPM not found or not executable; build it (cmake --build build --target fr-ppm) or set FR_PPM"
TESTDATA=${FR_TESTDATA:-$ROOT/../shared/testdata/face_recognition}
[[ -d "$TESTDATA" ]] || die "test images not found: $TESTDATA (set FR_TESTDATA)"
TESTDATA=$(cd "$TESTDATA" && pwd)

command -v node >/dev/null 2>&1 || die "node not found (run scripts/install-deps.sh)"
command -v npm >/dev/null 2>&1 || die "npm not found (run scripts/install-deps.sh)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' \
  || die "node >= 18 required, have $(node --version)"

export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

TMP=$(mktemp -d "${TMPDIR:-/tmp}/facerec-golden.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---- node deps: npm ci only when node_modules is missing or stale ---------
STAMP="$REF/node_modules/.facerec-lock.sha256"
want=$(sha256sum "$REF/package-lock.json" "$REF/package.json" | sha256sum | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "make-golden: npm ci in tests/reference"
  (cd "$REF" && npm ci --ignore-scripts --no-audit --no-fund </dev/null) || die "npm ci failed"
  echo "$want" >"$STAMP"
fi

# ---- face-api npm package (models and/or demo samples, if needed) ---------
PKG=""
npm_pack() {
  [[ -n "$PKG" ]] && return 0
  echo "make-golden: npm pack $NPM_PKG"
  local tgz
  tgz=$(cd "$TMP" && npm pack --silent "$NPM_PKG" </dev/null | tail -n1) || die "npm pack $NPM_PKG failed"
  [[ -f "$TMP/$tgz" ]] || die "npm pack $NPM_PKG produced no tarball"
  mkdir -p "$TMP/pkg"
  tar -xzf "$TMP/$tgz" -C "$TMP/pkg" --wildcards 'package/model/*' 'package/demo/sample*.jpg' \
    || die "cannot extract $tgz"
  PKG="$TMP/pkg/package"
}

MODEL_FILES=(ssd_mobilenetv1_model tiny_face_detector_model face_landmark_68_model face_recognition_model)
models_ok() {
  local m
  for m in "${MODEL_FILES[@]}"; do
    [[ -f "$1/$m-weights_manifest.json" && -f "$1/$m.bin" ]] || return 1
  done
}
if ! models_ok "$MODELS" && [[ -f "$ROOT/scripts/fetch-models.sh" ]]; then
  bash "$ROOT/scripts/fetch-models.sh" --models "$MODELS" || echo "make-golden: fetch-models.sh failed; using the npm package directly" >&2
fi
if ! models_ok "$MODELS"; then
  npm_pack
  MODELS="$PKG/model"
  models_ok "$MODELS" || die "models not found in $NPM_PKG"
fi
MODELS=$(cd "$MODELS" && pwd)
echo "make-golden: models from $MODELS"

# ---- decode every image to PPM with our decoder ---------------------------
PPMS="$TMP/ppm"
mkdir -p "$PPMS"
n=0
convert_one() { # SRC KEY
  "$FR_PPM" "$1" "$PPMS/$2.ppm" || die "$FR_PPM failed on $1"
  n=$((n + 1))
}
while IFS= read -r -d '' f; do
  rel=${f#"$TESTDATA"/}
  convert_one "$f" "${rel//\//__}"
done < <(find "$TESTDATA" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) -print0 | LC_ALL=C sort -z)
nt=$n
for i in 1 2 3 4 5 6; do
  s="$MODELS/samples/sample$i.jpg"
  if [[ ! -f "$s" ]]; then npm_pack; s="$PKG/demo/sample$i.jpg"; fi
  [[ -f "$s" ]] || die "sample$i.jpg not found in $NPM_PKG"
  convert_one "$s" "faceapi_demo__sample$i.jpg"
done
echo "make-golden: decoded $n images ($nt from $TESTDATA, $((n - nt)) face-api samples) with $FR_PPM"

# ---- run face-api ---------------------------------------------------------
mkdir -p "$TMP/out"
node "$REF/reference.js" --backend "$BACKEND" --models "$MODELS" --out-dir "$TMP/out" "$PPMS"/*.ppm \
  || die "reference harness failed"
mkdir -p "$OUT_DIR"
mv -f "$TMP/out/pipeline.json" "$OUT_DIR/pipeline.json"
mv -f "$TMP/out/nets.json" "$OUT_DIR/nets.json"
echo "make-golden: wrote $(abspath "$OUT_DIR/pipeline.json") and nets.json ($BACKEND backend)"
