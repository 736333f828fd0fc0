#!/usr/bin/env bash
# Low precision on the CPU (issue 18), in one run: each net in fp32, bf16,
# int8 and auto (fr-bench --precisions; a net without an int8 path runs fp32
# when int8 is asked for, and the table says so), then end to end over the
# 38 photos (decoding, detection, landmarks, descriptors) per precision.
# Usage: bench/lowprec.sh [BUILD_DIR] [SECONDS] [THREADS]
set -euo pipefail
build=${1:-build}
seconds=${2:-5}
threads=${3:-2}
. "$(dirname "$0")/images.sh"
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, threads $threads"
"$build/fr-bench" --models "$models" --nets ssd,tiny,landmark,recognition --batches 1,8,32 --threads "$threads" \
    --seconds "$seconds" --precisions fp32,bf16,int8,auto
echo "# end to end, ${#imgs[@]} images"
# Wall-clock speed-up, and the CPU-time one (the work; steadier on a loaded machine).
base="" cbase=""
for p in fp32 bf16 int8 auto; do
    line=$("$build/fr-bench-pipeline" --threads "$threads" --seconds "$seconds" --models "$models" --precision "$p" \
        "${imgs[@]}")
    ips=$(sed -E 's/.* ([0-9.]+) images\/s.*/\1/' <<<"$line")
    cpu=$(sed -E 's/.* ([0-9.]+) CPU s per pass.*/\1/' <<<"$line")
    [ -z "$base" ] && base=$ips cbase=$cpu
    echo "$line; $(awk -v a="$ips" -v b="$base" -v c="$cpu" -v d="$cbase" \
        'BEGIN { printf "%.2fx fp32 (wall), %.2fx (CPU time)", a / b, d / c }')"
done
