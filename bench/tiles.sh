#!/usr/bin/env bash
# Multi-scale detection (detect_tiles): recall, detector items per image and
# images/s for off, auto, 2x2 and 3x3 on the composed large-photo scenes and
# on the 38-photo set, on the CPU.
# Usage: bench/tiles.sh [BUILD_DIR] [THREADS]
set -euo pipefail
build=${1:-build}
threads=${2:-2}
. "$(dirname "$0")/images.sh"
export FACEREC_MODELS=$models FACEREC_TESTDATA=$data
echo "# composed scenes (phone 4032x3024, crowd 1280x926 x3, border 2000x1500, 4 photos without faces), $threads threads"
"$build/fr-bench-tiles" scenes --threads "$threads"
echo "# the ${#imgs[@]}-photo set, $threads threads, whole pipeline (decode, detect, landmarks, descriptors)"
"$build/fr-bench-tiles" files --threads "$threads" "${imgs[@]}"
