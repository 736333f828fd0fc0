#!/usr/bin/env bash
# `facerec user`: add, list, key, revoke, remove on a temporary data
# directory; exit codes, the key printed once on stdout, messages that name
# the data directory or the user, private file modes.
# Usage: test-cli-user.sh BUILD_DIR
set -u
bin="$1/facerec"
source "$(dirname "$0")/cli-util.sh"
unset FACEREC_DATA FACEREC_CONFIG
export XDG_DATA_HOME="$tmp/xdg"
data="$tmp/data"

check "help" 0 "$bin" user --help
expect "help" out "facerec user add NAME"
check "listed in facerec --help" 0 "$bin" --help
expect "listed in facerec --help" out "user"
check "no verb" 2 "$bin" user
check "unknown verb" 2 "$bin" user frobnicate
expect "unknown verb" err "frobnicate"
check "add without name" 2 "$bin" user add --data "$data"
check "--admin only for add" 2 "$bin" user list --admin --data "$data"
check "unknown flag" 2 "$bin" user list --frobnicate --data "$data"

check "list before any user" 0 "$bin" user list --data "$data"
expect "list before any user" err "$data"
[ ! -e "$data/facerec.db" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: list created the database"; }

check "add" 0 "$bin" user add alice --admin --data "$data"
expect_match "add prints one key" out '^fr_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]{43}$'
[ "$(wc -l <"$tmp/out")" = 1 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: add printed more than the key"; }
expect "add notes the key is shown once" err "not shown again"
expect "add names the data dir" err "$data"
key1=$(cat "$tmp/out")
[ "$(stat -c %a "$data")" = 700 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: data dir mode $(stat -c %a "$data")"; }
[ "$(stat -c %a "$data/facerec.db")" = 600 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: db mode"; }
# The key is only stored hashed.
if grep -qF -- "${key1:12}" "$data"/facerec.db*; then fail=$((fail + 1)); echo "FAIL: key secret stored in the clear"; else
    pass=$((pass + 1)); fi

check "add taken name" 1 "$bin" user add alice --data "$data"
expect "add taken name" err "alice"
check "add bad name" 1 "$bin" user add "$(printf 'bad\tname')" --data "$data"
check "add via FACEREC_DATA" 0 env FACEREC_DATA="$data" "$bin" user add bob
check "add via --config" 0 "$bin" user add carol --config <(printf '[server]\ndata = %s\n' "$data")
check "default data dir is XDG" 0 "$bin" user add dora
[ -e "$tmp/xdg/facerec/facerec.db" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: not in XDG_DATA_HOME"; }

check "key" 0 "$bin" user key bob --data "$data"
expect_match "key prints a key" out '^fr_'
check "key unknown user" 1 "$bin" user key nobody --data "$data"
expect "key unknown user" err "nobody"

check "list" 0 "$bin" user list --data "$data"
expect "list header" out "NAME"
expect_match "list alice" out '^alice +yes +1 +0 +0 +[0-9]{4}-'
expect_match "list bob has two keys" out '^bob +no +2 '
expect "list carol" out "carol"

check "revoke" 0 "$bin" user revoke bob --data "$data"
expect "revoke says how many" err "2 keys"
check "list after revoke" 0 "$bin" user list --data "$data"
expect_match "bob has no keys" out '^bob +no +0 '
check "revoke unknown" 1 "$bin" user revoke nobody --data "$data"

check "remove" 0 "$bin" user remove bob --data "$data"
check "remove again" 1 "$bin" user remove bob --data "$data"
expect "remove again names the user" err "'bob'"
expect "remove again names the data dir" err "$data"
check "list after remove" 0 "$bin" user list --data "$data"
if grep -q '^bob ' "$tmp/out"; then fail=$((fail + 1)); echo "FAIL: bob still listed"; else pass=$((pass + 1)); fi

# A data directory that cannot be created, and a file that is not a database.
: >"$tmp/file"
check "data dir is a file" 1 "$bin" user add eve --data "$tmp/file"
expect "data dir is a file" err "$tmp/file"
mkdir -p "$tmp/junk" && head -c 4096 /dev/urandom >"$tmp/junk/facerec.db"
check "not a database" 1 "$bin" user list --data "$tmp/junk"
expect "not a database" err "$tmp/junk"

cli_done test-cli-user
