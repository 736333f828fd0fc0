#!/usr/bin/env bash
# Fetch the face-api model weights (and the sample photos used by tests and the
# demo) from the npm package @vladmandic/face-api and verify them against
# scripts/models.sha256.
set -euo pipefail

NPM_PKG='@vladmandic/face-api@1.7.15'

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIST="$ROOT/scripts/models.sha256"
DEFAULT_DIR="$ROOT/models"

usage() {
  cat <<EOF
Usage: scripts/fetch-models.sh [--models DIR] [--verify]

Puts the face-api model files (*.bin + *-weights_manifest.json) and the test
photos (samples/sample1..6.jpg) from npm package $NPM_PKG
into DIR, checking each against scripts/models.sha256.
Does nothing (no npm call) when every file is present and verifies.
Missing or corrupt files are (re-)fetched.

Options:
  --models DIR   model directory (default: \$FACEREC_MODELS, else models/ in
                 the checkout: $DEFAULT_DIR)
  --verify       check only, never fetch; exit 1 naming each missing or
                 corrupt file
  -h, --help     show this help
EOF
}

die() { echo "fetch-models: $*" >&2; exit 1; }

DIR=""
VERIFY=0
while (($#)); do
  case "$1" in
    --models)   (($# >= 2)) || die "--models needs a directory"; DIR=$2; shift 2 ;;
    --models=*) DIR=${1#--models=}; shift ;;
    --verify)   VERIFY=1; shift ;;
    -h|--help)  usage; exit 0 ;;
    *)          die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -n "$DIR" ]] || DIR=${FACEREC_MODELS:-}
[[ -n "$DIR" ]] || DIR=$DEFAULT_DIR
DIR=${DIR%/}
[[ -n "$DIR" ]] || DIR=/
[[ -r "$LIST" ]] || die "checksum list $LIST not found"

# The command that repairs this model dir, as the user would type it.
if [[ "$PWD" == "$ROOT" ]]; then self=scripts/fetch-models.sh; else self="$ROOT/scripts/fetch-models.sh"; fi
if [[ "$(cd "$DIR" 2>/dev/null && pwd || echo "$DIR")" == "$DEFAULT_DIR" ]]; then
  FIX="$self  (or: make models)"
else
  FIX="$self --models $DIR  (or: FACEREC_MODELS=$DIR make models)"
fi

# Read the list: parallel arrays of expected sha and relative file name.
SUMS=(); FILES=()
while read -r sum name; do
  [[ -z "${sum:-}" || "$sum" == \#* ]] && continue
  SUMS+=("$sum"); FILES+=("${name#\*}")
done <"$LIST"
((${#FILES[@]})) || die "checksum list $LIST is empty"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# check DIR -> sets BAD (indices) and prints nothing; REASON[i] = missing|corrupt
check() {
  local base=$1 i
  BAD=(); REASON=()
  for i in "${!FILES[@]}"; do
    if [[ ! -f "$base/${FILES[$i]}" ]]; then
      BAD+=("$i"); REASON[i]=missing
    elif [[ "$(sha_of "$base/${FILES[$i]}")" != "${SUMS[$i]}" ]]; then
      BAD+=("$i"); REASON[i]=corrupt
    fi
  done
}

report_bad() {
  local i
  for i in "${BAD[@]}"; do
    case "${REASON[$i]}" in
      missing) echo "fetch-models: missing: $DIR/${FILES[$i]}" >&2 ;;
      corrupt) echo "fetch-models: corrupt (sha256 mismatch): $DIR/${FILES[$i]}" >&2 ;;
    esac
  done
}

check "$DIR"
if ((${#BAD[@]} == 0)); then
  echo "models OK in $DIR"
  exit 0
fi

if ((VERIFY)); then
  report_bad
  echo "fetch-models: ${#BAD[@]} of ${#FILES[@]} model files missing or corrupt in $DIR; fix: $FIX" >&2
  exit 1
fi

# ---- fetch ---------------------------------------------------------------
if ((${#BAD[@]} == ${#FILES[@]})) && [[ ! -e "$DIR/${FILES[0]}" ]]; then
  echo "fetch-models: fetching all ${#FILES[@]} model files into $DIR"
else
  for i in "${BAD[@]}"; do
    echo "fetch-models: ${REASON[$i]}: $DIR/${FILES[$i]} -- will fetch"
  done
fi

fail_fetch() {
  local i
  for i in "${BAD[@]}"; do echo "fetch-models: not fixed: $DIR/${FILES[$i]}" >&2; done
  die "$1; fix: $FIX"
}

command -v npm >/dev/null 2>&1 || fail_fetch "npm not found (run scripts/install-deps.sh)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/facerec-models.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "fetch-models: npm pack $NPM_PKG"
if ! tgz=$(cd "$TMP" && npm_config_update_notifier=false npm_config_fund=false \
             npm pack --silent "$NPM_PKG" </dev/null 2>"$TMP/npm.err" | tail -n1) \
   || [[ -z "$tgz" || ! -f "$TMP/$tgz" ]]; then
  cat "$TMP/npm.err" >&2 || true
  fail_fetch "npm pack $NPM_PKG failed"
fi

mkdir -p "$TMP/x"
tar -xzf "$TMP/$tgz" -C "$TMP/x" --wildcards --no-wildcards-match-slash \
    'package/model/*.bin' 'package/model/*-weights_manifest.json' \
    'package/demo/sample[1-6].jpg' \
  || fail_fetch "cannot extract $tgz"

# Map a list entry to its location inside the tarball.
src_of() {
  case "$1" in
    samples/*) echo "$TMP/x/package/demo/${1#samples/}" ;;
    *)         echo "$TMP/x/package/model/$1" ;;
  esac
}

mkdir -p "$DIR" || fail_fetch "cannot create $DIR"
for i in "${BAD[@]}"; do
  f=${FILES[$i]}
  src=$(src_of "$f")
  [[ -f "$src" ]] || fail_fetch "$f not found in $NPM_PKG"
  [[ "$(sha_of "$src")" == "${SUMS[$i]}" ]] \
    || fail_fetch "$f from $NPM_PKG does not match scripts/models.sha256"
  mkdir -p "$(dirname "$DIR/$f")"
  cp "$src" "$DIR/$f.part.$$"
  mv -f "$DIR/$f.part.$$" "$DIR/$f"
done
echo "fetch-models: fetched ${#BAD[@]} file(s) from $NPM_PKG"

check "$DIR"
if ((${#BAD[@]})); then
  report_bad
  die "files still missing or corrupt after fetch; fix: $FIX"
fi
echo "models OK in $DIR"
