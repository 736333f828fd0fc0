#!/usr/bin/env bash
# Install the npm packages of the web app and of its browser tests from their
# lock files (`npm ci`, no install scripts, no browser download):
#   web/        uPlot, compiled into `facerec serve` at build time; its files
#               are checked against scripts/web.sha256
#   tests/web/  puppeteer-core, which drives Debian's chromium in test-web
# Does nothing (no npm call) where the installed packages already match.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIST="$ROOT/scripts/web.sha256"

usage() {
  cat <<EOF
Usage: scripts/fetch-web.sh [--app] [--verify]

Installs web/node_modules (the web app's libraries, checked against
scripts/web.sha256) and tests/web/node_modules (the browser tests' driver)
with npm ci from their package-lock.json files.

Options:
  --app      only the web app's libraries (what the build needs)
  --verify   check only, never install; exit 1 naming what is missing or corrupt
  -h, --help show this help
EOF
}

die() { echo "fetch-web: $*" >&2; exit 1; }

APP_ONLY=0
VERIFY=0
while (($#)); do
  case "$1" in
    --app)     APP_ONLY=1; shift ;;
    --verify)  VERIFY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *)         die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -r "$LIST" ]] || die "checksum list $LIST not found"

# The web app's files against the list; prints what is wrong, returns 1 then.
check_app() {
  local sum name bad=0
  while read -r sum name; do
    [[ -z "${sum:-}" || "$sum" == \#* ]] && continue
    name=${name#\*}
    if [[ ! -f "$ROOT/web/node_modules/$name" ]]; then
      echo "fetch-web: missing: web/node_modules/$name" >&2; bad=1
    elif [[ "$(sha256sum "$ROOT/web/node_modules/$name" | cut -d' ' -f1)" != "$sum" ]]; then
      echo "fetch-web: corrupt (sha256 mismatch): web/node_modules/$name" >&2; bad=1
    fi
  done <"$LIST"
  return $bad
}

# True when DIR/node_modules holds what DIR/package-lock.json pins: npm
# writes node_modules/.package-lock.json on install; it must list the same
# packages at the same versions.
tests_current() {
  local dir=$1
  [[ -f "$dir/node_modules/.package-lock.json" ]] || return 1
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync(process.argv[1])).packages;
    const have = JSON.parse(fs.readFileSync(process.argv[2])).packages;
    for (const [k, v] of Object.entries(want)) {
      if (k === "") continue;
      if (!have[k] || have[k].version !== v.version) process.exit(1);
    }' "$dir/package-lock.json" "$dir/node_modules/.package-lock.json" 2>/dev/null
}

npm_ci() {
  local dir=$1
  command -v npm >/dev/null 2>&1 || die "npm not found (run scripts/install-deps.sh)"
  echo "fetch-web: npm ci in ${dir#"$ROOT"/}"
  (cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm_config_update_notifier=false npm_config_fund=false \
     npm_config_audit=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null) \
    || die "npm ci in ${dir#"$ROOT"/} failed (it needs the npm registry once)"
}

# ---- the web app's libraries ----------------------------------------------
if check_app 2>/dev/null; then
  echo "web app libraries OK in web/node_modules"
elif ((VERIFY)); then
  check_app || true
  die "web app libraries missing or corrupt; fix: scripts/fetch-web.sh"
else
  npm_ci "$ROOT/web"
  check_app || die "web/node_modules does not match scripts/web.sha256 after npm ci"
  echo "web app libraries OK in web/node_modules"
fi
((APP_ONLY)) && exit 0

# ---- the browser tests' driver --------------------------------------------
if tests_current "$ROOT/tests/web"; then
  echo "browser test packages OK in tests/web/node_modules"
elif ((VERIFY)); then
  die "tests/web/node_modules is missing or differs from its package-lock.json; fix: scripts/fetch-web.sh"
else
  npm_ci "$ROOT/tests/web"
  tests_current "$ROOT/tests/web" || die "tests/web/node_modules differs from its lock file after npm ci"
  echo "browser test packages OK in tests/web/node_modules"
fi
