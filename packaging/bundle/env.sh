# shellcheck shell=bash
# Sourced by the bundle's `run` and `gpu-check.sh`: sets up the environment
# of an unpacked facerec GPU bundle (make gpu-bundle).
#
# LD_LIBRARY_PATH = the bundle's lib/ (every non-CUDA library the programs
# need), then the library folders of NVIDIA's pip wheels where found, then
# whatever LD_LIBRARY_PATH was. The CUDA 13 runtime, cuBLAS 13 and cuDNN 9
# come from the machine: NVIDIA's packages (found through the loader's cache)
# or pip wheels (nvidia-cudnn-cu13, nvidia-cublas, nvidia-cuda-runtime), whose
# libraries live in site-packages/nvidia/<name>/lib (cuDNN: nvidia/cudnn/lib;
# CUDA 13's wheels: nvidia/cu13/lib; older ones nvidia/cublas/lib,
# nvidia/cuda_runtime/lib). Wheels are looked for in
#   - FACEREC_NVIDIA_PATH: colon-separated site-packages directories, their
#     nvidia/ directories, or library directories (a virtualenv, a path
#     given by hand);
#   - the site-packages of python3 on PATH (system, user, active venv/conda);
#   - $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local and /usr/local Python trees.
# FACEREC_BUNDLE_QUIET=1 silences the line saying what was found.
fr_bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fr_nvidia_dirs() {
    local roots=() r d seen=":"
    if [ -n "${FACEREC_NVIDIA_PATH:-}" ]; then
        local IFS=:
        read -r -a roots <<<"$FACEREC_NVIDIA_PATH"
        unset IFS
    fi
    if command -v python3 >/dev/null 2>&1; then
        local py='import site, sys; ps = site.getsitepackages() + [site.getusersitepackages()] + sys.path; print("\n".join(p for p in ps if p))'
        while IFS= read -r r; do roots+=("$r"); done < <(python3 -c "$py" 2>/dev/null)
    fi
    for r in "${VIRTUAL_ENV:-}" "${CONDA_PREFIX:-}" "$HOME/.local" /usr/local /usr /opt/conda; do
        [ -n "$r" ] || continue
        for d in "$r"/lib/python3*/site-packages "$r"/lib/python3*/dist-packages "$r"/lib/python3/dist-packages; do
            [ -d "$d" ] && roots+=("$d")
        done
    done
    for r in "${roots[@]}"; do
        [ -d "$r" ] || continue
        local cands=()
        if [ -d "$r/nvidia" ]; then cands=("$r"/nvidia/*/lib)
        elif [ "$(basename "$r")" = nvidia ]; then cands=("$r"/*/lib)
        else cands=("$r")
        fi
        for d in "${cands[@]}"; do
            [ -d "$d" ] || continue
            # Only folders that hold a CUDA library facerec needs.
            compgen -G "$d/libcudnn.so.9*" >/dev/null || compgen -G "$d/libcublas*.so.13*" >/dev/null ||
                compgen -G "$d/libcudart.so.13*" >/dev/null || compgen -G "$d/libcudnn_*.so.9*" >/dev/null ||
                compgen -G "$d/libnvrtc*.so*" >/dev/null || compgen -G "$d/libnvJitLink*.so*" >/dev/null || continue
            d=$(cd "$d" && pwd -P)
            case "$seen" in *":$d:"*) continue ;; esac
            seen="$seen$d:"
            printf '%s\n' "$d"
        done
    done
}

fr_wheels=$(fr_nvidia_dirs | paste -sd: -)
export LD_LIBRARY_PATH="$fr_bundle/lib${fr_wheels:+:$fr_wheels}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FACEREC_MODULE_PATH="$fr_bundle/lib/facerec"
export FACEREC_MODELS="${FACEREC_MODELS:-$fr_bundle/models}"
export FACEREC_TESTDATA="${FACEREC_TESTDATA:-$fr_bundle/testdata}"
if [ "${FACEREC_BUNDLE_QUIET:-0}" != 1 ]; then
    echo "facerec bundle: NVIDIA wheel library folders: ${fr_wheels:-none found, the loader path is used for CUDA}" >&2
fi
