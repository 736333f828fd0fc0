# Shared by the CLI shell tests (test-cli.sh, test-cli-user.sh,
# test-cli-gallery.sh); source it after setting -u. It makes $tmp (removed
# on exit), counts passes and failures, and checks commands and their
# output. Each check prints what it saw when it fails, so one run shows
# every failure.
# bin, src, models (exported as FACEREC_MODELS), data (face_recognition's
# test data) and knn (its knn example) from BUILD_DIR SOURCE_DIR.
cli_paths() { # build dir, source dir
    bin="$1/facerec"
    src="$2"
    models="${FACEREC_MODELS:-$src/models}"
    data="${FACEREC_TESTDATA:-$src/../shared/testdata/face_recognition}"
    knn="$data/examples/knn_examples"
    export FACEREC_MODELS="$models"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# One more failure: its message, then the head of the files named (out, err).
cli_failed() { # message, file...
    fail=$((fail + 1))
    echo "FAIL: $1"
    shift
    local f
    for f in "$@"; do sed "s/^/    $f: /" "$tmp/$f" | head -20; done
}

check() { # name, expected exit code, command...; output in $tmp/out (stdout) and $tmp/err
    local name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" = "$want" ]; then pass=$((pass + 1)); else cli_failed "$name: exit $got, expected $want" out err; fi
}

expect() { # name, file (out|err), fixed text
    if grep -qF -- "$3" "$tmp/$2"; then pass=$((pass + 1)); else cli_failed "$1: $2 lacks '$3'" "$2"; fi
}

expect_match() { # name, file, extended regex
    if grep -qE -- "$3" "$tmp/$2"; then pass=$((pass + 1)); else cli_failed "$1: $2 does not match '$3'" "$2"; fi
}

expect_lines() { # name, file, count
    local n
    n=$(wc -l <"$tmp/$2")
    if [ "$n" = "$3" ]; then pass=$((pass + 1)); else cli_failed "$1: $n lines in $2, expected $3" "$2"; fi
}

# The summary line (after an optional "NAME: "), and the exit status.
cli_done() { # [name]
    echo "${1:+$1: }$pass passed, $fail failed"
    [ "$fail" = 0 ]
}
