#!/usr/bin/env bash
# The Debian packages installed for real (issue 16): dpkg -i on this
# machine, the installed `facerec detect` on a photo, the installed server
# started the way facerec.service starts it (its ExecStart, User and
# WorkingDirectory, with NoNewPrivileges; systemd is not PID 1 in CI, so
# setpriv does what the unit would) answering /readyz, then dpkg -P and a
# check that nothing is left: files, the facerec user, /etc/facerec,
# /var/lib/facerec, the unit's enablement link.
#
# It changes the machine, so it runs only as root on a machine without a
# facerec package installed, and only when FACEREC_TEST_INSTALL=1 (CI sets it
# through `make test-packages`); otherwise it exits 77 (skipped).
# Usage: test-deb-install.sh DEB_DIR SOURCE_DIR
set -u
debs=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
photo="${FACEREC_TESTDATA:-$src/../shared/testdata/face_recognition}/examples/obama.jpg"
skip() { echo "SKIP: $*"; exit 77; }
[ "${FACEREC_TEST_INSTALL:-0}" = 1 ] || skip "set FACEREC_TEST_INSTALL=1 to install the packages on this machine"
[ "$(id -u)" = 0 ] || skip "not root"
command -v dpkg >/dev/null || skip "no dpkg"
for p in facerec facerec-cuda facerec-models; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed'; then
        skip "package $p is already installed here; not touching it"
    fi
done
getent passwd facerec >/dev/null && skip "a facerec user exists already; not touching it"
ls "$debs"/facerec_*.deb "$debs"/facerec-models_*.deb >/dev/null || exit 1

tmp=$(mktemp -d)
server=""
installed=()
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    # Purge whatever this test installed, even after a failure.
    ((${#installed[@]})) && dpkg -P "${installed[@]}" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
t0=$(date +%s)

# ---- install
if dpkg -i "$debs"/facerec-models_*.deb "$debs"/facerec_*.deb >"$tmp/dpkg.log" 2>&1; then
    ok
    installed=(facerec facerec-models)
else
    bad "dpkg -i"; cat "$tmp/dpkg.log"; installed=(facerec facerec-models); exit 1
fi
[ -x /usr/bin/facerec ] && ok || bad "/usr/bin/facerec missing"
getent passwd facerec >/dev/null && ok || bad "no facerec user"
[ "$(stat -c '%U:%G %a' /var/lib/facerec 2>/dev/null)" = "facerec:facerec 750" ] && ok ||
    bad "/var/lib/facerec: $(stat -c '%U:%G %a' /var/lib/facerec 2>&1)"
grep -qx /etc/facerec/facerec.ini /var/lib/dpkg/info/facerec.conffiles && ok || bad "facerec.ini is not a conffile"
[ -f /usr/share/facerec/models/face_recognition_model.bin ] && ok || bad "models not installed"
# The unit is valid as systemd reads it (offline).
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify --man=no /lib/systemd/system/facerec.service >"$tmp/verify" 2>&1 && ok ||
        { bad "systemd-analyze verify"; cat "$tmp/verify"; }
fi

# ---- the CUDA module: installed when NVIDIA's runtime packages are (its
# dependencies), else unpacked and loaded from there.
cuda_deb=$(ls "$debs"/facerec-cuda_*.deb 2>/dev/null | head -1)
if [ -n "$cuda_deb" ]; then
    if dpkg -i "$cuda_deb" >"$tmp/dpkg-cuda.log" 2>&1; then
        installed=(facerec-cuda "${installed[@]}")
        /usr/bin/facerec devices >"$tmp/devices" 2>&1
        grep -qF "cuda  /usr/bin/../lib/facerec/libfacerec-cuda.so" "$tmp/devices" && ok ||
            { bad "installed module not found"; cat "$tmp/devices"; }
    else
        # dpkg leaves it unpacked but unconfigured (missing dependencies): remove it.
        dpkg -P facerec-cuda >/dev/null 2>&1
        echo "note: facerec-cuda not installed (its NVIDIA dependencies are not installed as packages here):"
        grep -m3 'depends on' "$tmp/dpkg-cuda.log"
        dpkg-deb -x "$cuda_deb" "$tmp/cuda"
        FACEREC_MODULE_PATH="$tmp/cuda/usr/lib/facerec" /usr/bin/facerec devices >"$tmp/devices" 2>&1
        grep -qE "^cuda  $tmp/cuda/usr/lib/facerec/libfacerec-cuda.so: |cannot load .*libcu" "$tmp/devices" && ok ||
            { bad "packaged module"; cat "$tmp/devices"; }
    fi
fi

# ---- the installed CLI
/usr/bin/facerec detect --models /usr/share/facerec/models "$photo" >"$tmp/detect" 2>&1
grep -q '^.*obama.jpg,[0-9.]*,[0-9.]*,[0-9.]*,[0-9.]*,0\.9' "$tmp/detect" && ok || { bad "installed detect"; cat "$tmp/detect"; }

# ---- the installed server, as the unit runs it
unit=/lib/systemd/system/facerec.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
group=$(sed -n 's/^Group=//p' "$unit")
wd=$(sed -n 's/^WorkingDirectory=//p' "$unit")
[ "$user" = facerec ] && [ -n "$exec_start" ] && ok || bad "unit: User=$user ExecStart=$exec_start"
# Port 0 instead of the ini's 5001 (the environment overrides the file), so
# that a busy port on the CI machine cannot fail the test.
read -r -a argv <<<"$exec_start"
(cd "$wd" && exec setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin FACEREC_LISTEN=127.0.0.1:0 "${argv[@]}") 2>"$tmp/server.log" &
server=$!
port=""
for _ in $(seq 1 1200); do # the start-up line, up to 120 s
    port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$tmp/server.log")
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    bad "server did not start"; cat "$tmp/server.log"
else
    ok
    code=""
    for _ in $(seq 1 600); do # ready after warm-up, up to 120 s
        code=$(curl -s -o "$tmp/ready" -w '%{http_code}' "http://127.0.0.1:$port/readyz")
        [ "$code" = 200 ] && break
        sleep 0.2
    done
    [ "$code" = 200 ] && ok || { bad "/readyz: $code"; cat "$tmp/ready" "$tmp/server.log"; }
    # It runs as the unit's user, and wrote its gallery where the unit allows.
    [ "$(ps -o user= -p "$(pgrep -P "$server" -x facerec || echo "$server")" | tr -d ' ')" = facerec ] && ok ||
        bad "server not running as facerec: $(ps -o user=,comm= --ppid "$server")"
    [ -n "$(find /var/lib/facerec -mindepth 1 -user facerec -print -quit)" ] && ok ||
        bad "nothing written to /var/lib/facerec: $(ls -la /var/lib/facerec)"
    kill -TERM "$server"
    wait "$server"
    rc=$?
    server=""
    [ "$rc" = 0 ] && ok || { bad "server exit $rc after SIGTERM"; tail -5 "$tmp/server.log"; }
fi

# ---- purge: nothing left
dpkg -P "${installed[@]}" >"$tmp/purge.log" 2>&1 && ok || { bad "dpkg -P"; cat "$tmp/purge.log"; }
installed=()
for f in /usr/bin/facerec /etc/facerec /var/lib/facerec /usr/share/facerec /usr/lib/facerec \
         /lib/systemd/system/facerec.service /etc/systemd/system/multi-user.target.wants/facerec.service; do
    [ -e "$f" ] && bad "left after purge: $f" || ok
done
left=$(find /etc/systemd /var/lib/systemd -name '*facerec*' 2>/dev/null)
[ -n "$left" ] && bad "systemd state left after purge: $left" || ok
getent passwd facerec >/dev/null && bad "user facerec left after purge" || ok
getent group facerec >/dev/null && bad "group facerec left after purge" || ok
dpkg-query -W -f='${Status}\n' facerec facerec-models facerec-cuda 2>/dev/null | grep -q installed &&
    bad "a package is still installed" || ok

echo "test-deb-install: $pass passed, $fail failed in $(($(date +%s) - t0)) s"
[ "$fail" = 0 ]
