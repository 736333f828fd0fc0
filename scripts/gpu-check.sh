#!/usr/bin/env bash
# The GPU check in one command (issue 16). On a machine with an NVIDIA GPU it
# runs
#   1. the CUDA conformance test (test-backend-cuda: every op and the four
#      nets on CUDA against the CPU backend, fp32 and fp16),
#   2. fr-bench on cuda (each net at batch 1..128, fp32 and fp16),
#   3. a server sweep (facerec bench --serve) with the old system's settings
#      (GPU_BATCH_SIZE 128, DYNAMIC_BATCH_SIZE 64, processingDelay 5 ms,
#      MAX_CONCURRENT_IMAGES 16, userConcurrencyLimit 16, MAX_WORKERS 2,
#      MAX_IMAGE_SIZE 2048; README "Server settings"), against static batching,
# and writes one markdown report. Works from a source tree (after `make
# build`) and from the unpacked `make gpu-bundle` tarball.
#
# Usage: gpu-check.sh [--out FILE] [--build DIR] [--quick] [--device cuda|cpu]
#   --out FILE   the report (default gpu-check-HOST-DATE.md in the current directory)
#   --build DIR  source tree only: the build directory (default build)
#   --quick      short runs (smoke test of the check itself)
#   --device cpu a dry run of the whole script on the CPU; its report says so
#                and is no GPU result
# Exit status: 0 when everything ran and the conformance test passed, 1 when
# something failed, 2 when there is no usable GPU (the report says why).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
args="$*"
out=""
build=""
quick=0
device=cuda
while (($#)); do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --device) device=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$device" in cuda | cpu) ;; *) echo "gpu-check: --device cuda or cpu" >&2; exit 2 ;; esac

# Where the programs are: an unpacked bundle (bin/ next to this script; its
# env.sh sets the library path, the module path, models and photos) or a
# source tree.
if [ -x "$here/bin/facerec" ] && [ -f "$here/env.sh" ]; then
    # shellcheck source=/dev/null
    . "$here/env.sh"
    bin="$here/bin"
    conf="$here/bin/test-backend-cuda"
    layout="bundle $here"
else
    root=$(cd "$here/.." && pwd)
    build=$(cd "${build:-$root/build}" 2>/dev/null && pwd) || { echo "gpu-check: no build directory (make build)" >&2; exit 1; }
    bin="$build"
    conf="$build/tests/test-backend-cuda"
    export FACEREC_MODULE_PATH="${FACEREC_MODULE_PATH:-$build}"
    export FACEREC_MODELS="${FACEREC_MODELS:-$root/models}"
    export FACEREC_TESTDATA="${FACEREC_TESTDATA:-$root/../shared/testdata/face_recognition}"
    layout="source tree, build $build"
fi
images="$FACEREC_TESTDATA/examples"
stamp=$(date -u +%Y%m%d-%H%M%S)
out=${out:-$PWD/gpu-check-$(hostname -s 2>/dev/null || echo host)-$stamp.md}
logs="${out%.md}-logs"
mkdir -p "$logs"
if ((quick)); then secs=0.5; dur=2; levels=1,4; batches=1,8; else secs=2; dur=10; levels=1,2,4,8,16,32,64; batches=1,8,32,64,128; fi

md() { printf '%s\n' "$@" >>"$out"; }
block() { md '```'; cat "$1" >>"$out"; md '```'; }
: >"$out"
status=0

md "# facerec GPU check" ""
if [ "$device" = cpu ]; then
    md "**CPU dry run (--device cpu): this report exercises the check itself; it contains no GPU result.**" ""
fi
md "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host $(hostname 2>/dev/null)" \
    "- facerec: $("$bin/facerec" --version 2>&1), $layout" \
    "- command: \`$0 $args\`" \
    "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores" \
    "- LD_LIBRARY_PATH: \`${LD_LIBRARY_PATH:-}\`" ""
md "## Machine" ""
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used,compute_cap --format=csv \
        >"$logs/nvidia-smi.txt" 2>&1
    block "$logs/nvidia-smi.txt"
else
    md "nvidia-smi: not found (no NVIDIA driver utilities on PATH)." ""
fi
md "" "\`facerec devices\`:" ""
"$bin/facerec" devices >"$logs/devices.txt" 2>&1
block "$logs/devices.txt"
md ""

if [ "$device" = cuda ] && ! grep -Eq '^cuda .*: [1-9][0-9]* devices?' "$logs/devices.txt"; then
    md "## Result: no usable GPU" "" \
        "The CUDA backend reports no device (see \`facerec devices\` above: a missing module or library is named" \
        "there, and so is a missing driver). Nothing was run; this is not a GPU result."
    echo "gpu-check: no usable GPU; report: $out" >&2
    exit 2
fi

# 1. Conformance.
md "## 1. Conformance: test-backend-cuda" ""
if [ -x "$conf" ]; then
    t0=$(date +%s)
    "$conf" >"$logs/test-backend-cuda.txt" 2>&1
    rc=$?
    case $rc in
    0) verdict="PASSED" ;;
    77) verdict="SKIPPED (no device)"; [ "$device" = cuda ] && status=1 ;;
    *) verdict="FAILED (exit $rc)"; status=1 ;;
    esac
    md "**$verdict** in $(($(date +%s) - t0)) s: every op and op variant the nets use and the four nets, CUDA fp32 within" \
        "1e-4 relative of the CPU backend, fp16 within 1e-2 (recognition descriptors within 1e-2 relative L2 of fp32)," \
        "the memory budget, and the device input preparation. Last lines of its output:" ""
    tail -25 "$logs/test-backend-cuda.txt" >"$logs/tail.txt"
    block "$logs/tail.txt"
else
    md "test-backend-cuda not found at $conf." ""
    status=1
fi
md ""

# 2. Per-net throughput.
md "## 2. fr-bench on $device" ""
for prec in fp32 fp16; do
    [ "$device" = cpu ] && [ "$prec" = fp16 ] && continue
    cmd=("$bin/fr-bench" --device "$device" --precision "$prec" --models "$FACEREC_MODELS" --batches "$batches"
        --seconds "$secs")
    [ "$device" = cpu ] && cmd+=(--threads "$(nproc)")
    md "\`${cmd[*]#"$bin/"}\`:" ""
    "${cmd[@]}" >"$logs/fr-bench-$prec.txt" 2>&1
    rc=$?
    if [ "$rc" != 0 ]; then status=1; md "**fr-bench failed (exit $rc)**"; fi
    block "$logs/fr-bench-$prec.txt"
    md ""
done

# 3. The server sweep with the old system's settings.
md "## 3. Server sweep, the old system's settings" ""
old=(--max-batch-size 128 --preferred-batch-size 64 --max-queue-delay-ms 5 --max-concurrent-images 16
    --user-concurrency-limit 16 --max-workers 2 --max-image-size 2048)
cmd=("$bin/facerec" bench --serve --device "$device" "${old[@]}" --concurrency "$levels" --duration "$dur"
    --models "$FACEREC_MODELS" --compare static --images "$images")
md "\`facerec ${cmd[*]:1}\`" "" \
    "Dynamic batching (this server) at each concurrency, then the same load with static batching (the old system's" \
    "batcher) and the before/after table:" ""
"${cmd[@]}" >"$logs/sweep.txt" 2>&1
rc=$?
if [ "$rc" != 0 ]; then status=1; md "**the sweep failed (exit $rc)**"; fi
block "$logs/sweep.txt"
md ""

md "## Result" ""
if [ "$status" != 0 ]; then md "**Something failed: see above.**"
elif [ "$device" = cpu ]; then md "CPU dry run: every step ran (the conformance test needs a GPU and was skipped). No GPU result."
else md "Everything ran; the conformance test passed."; fi
md "" "Full outputs: \`$logs/\`."
echo "gpu-check: report $out" >&2
exit "$status"
