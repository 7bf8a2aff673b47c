#!/usr/bin/env bash
#===- run-cuda-checks.sh - the GPU checks, where there is a GPU ------------===#
#
# ctest `gpu-cuda-checks` (label `gpu`): builds the CUDA executables of the
# tiny models and runs tools/device/check-cuda.py (logits against the NumPy
# reference and HuggingFace transformers, PTX for sm_80/sm_89/sm_90a through
# the driver's JIT, every kernel against its generic host lowering with
# --check-kernels at several prompt lengths and batch sizes, sampling). Without an NVIDIA GPU, or without python3 with torch
# and transformers, it says so and exits 77, which ctest reports as skipped.
#
# Usage: run-cuda-checks.sh BUILD_DIR
#
#===------------------------------------------------------------------------===#
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:?usage: run-cuda-checks.sh BUILD_DIR}"
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1' || ! ls /dev/nvidia0 >/dev/null 2>&1; then
  echo "SKIPPED gpu-cuda-checks: no NVIDIA GPU or driver on this machine"
  exit 77
fi
if ! python3 -c "import torch, transformers" >/dev/null 2>&1; then
  echo "SKIPPED gpu-cuda-checks: python3 with torch and transformers is needed"
  exit 77
fi
"$ROOT/tools/device/prepare-cuda-checks.sh" "$BUILD" || exit 1
cd "$ROOT/build-device" && python3 check-cuda.py . --no-perf
