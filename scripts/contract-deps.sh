#!/usr/bin/env bash
# Install the API contract's npm packages (tests/contract/package-lock.json:
# the YAML parser the build converts docs/openapi.yaml with, ajv, the
# linter, TypeScript) with `npm ci`. Does nothing when node_modules already
# matches the lock file; needs the npm registry only when it does not.
# Usage: scripts/contract-deps.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/tests/contract"
die() { echo "contract-deps: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found (scripts/install-deps.sh installs it)"
command -v npm >/dev/null 2>&1 || die "npm not found (scripts/install-deps.sh installs it)"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' \
  || die "node >= 18 required, have $(node --version)"

export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
STAMP="$DIR/node_modules/.facerec-lock.sha256"
want=$(sha256sum "$DIR/package-lock.json" "$DIR/package.json" | sha256sum | cut -d' ' -f1)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
echo "contract-deps: npm ci in tests/contract"
t0=$(date +%s)
(cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund </dev/null) || die "npm ci failed"
echo "$want" >"$STAMP"
echo "contract-deps: done in $(( $(date +%s) - t0 )) s"
