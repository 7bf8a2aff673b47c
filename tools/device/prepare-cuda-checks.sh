#!/usr/bin/env bash
#===- prepare-cuda-checks.sh - build what the GPU checks carry -------------===#
#
# Runs on the build machine (no GPU). Writes build-device/ (git-ignored),
# which the device tool carries to the GPU machine, where
# tools/device/check-cuda.py runs:
#   <model>/ckpt          tiny checkpoint (make-tiny-checkpoint.py, seed 7)
#   <model>/prompt.txt    the 32 teacher-forced token ids
#   <model>/cpu.npy       logits of the CPU executable (this machine)
#   <model>/exact.npy, bf16.npy   NumPy reference logits (fp32 / bf16 mode)
#   <model>/cpu.exe       CPU executable (sampling agrees with the GPU's)
#   <model>/sm_90a.exe    CUDA executable (cubin); tiny-v3 also has
#                         sm_90a-ptx.exe, sm_80.exe, sm_89.exe (PTX, JIT)
#   <model>/check.exe     CUDA executable with --check-kernels (host twins)
#   v2lite.exe            the real DeepSeek-V2-Lite config for sm_90a
#   v2lite-check.exe      the same with --check-kernels, small geometry
#   v2lite-long.exe       the same with the model's whole context (163840)
#
# build-device.tar.xz packs it all (the device tool carries at most 64 MiB):
#   device: tar -xJf build-device.tar.xz && cd build-device && python3 check-cuda.py .
#
# Usage: tools/device/prepare-cuda-checks.sh [BUILD_DIR]
#
#===------------------------------------------------------------------------===#
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
DSC="$BUILD/bin/dsc"
OUT="$ROOT/build-device"
PY=/usr/bin/python3
rm -rf "$OUT" && mkdir -p "$OUT"
cp "$ROOT/tools/device/check-cuda.py" "$OUT/"

PROMPT="$($PY -c "import numpy as np; print(' '.join(map(str, np.random.default_rng(11).integers(2, 512, size=32))))")"
COMPILE=(--max-seq-len 64 --max-batch 4 --prefill-chunk 12)

prepare() { # name config dtype
  local name=$1 config=$2 dtype=$3 dir="$OUT/$1"
  mkdir -p "$dir"
  echo "$PROMPT" > "$dir/prompt.txt"
  $PY "$ROOT/tools/make-tiny-checkpoint.py" "$ROOT/examples/$config" -o "$dir/ckpt" --seed 7 --dtype "$dtype" --shards 1 >/dev/null
  "$DSC" compile "$dir/ckpt" -o "$dir/cpu.exe" "${COMPILE[@]}" 2>/dev/null
  "$dir/cpu.exe" --prompt-ids "$PROMPT" -n 1 --dump-logits "$dir/cpu.npy" >/dev/null
  $PY "$ROOT/test/reference/deepseek_reference.py" "$dir/ckpt" --prompt-ids "$PROMPT" --mode exact --dump-logits "$dir/exact.npy" >/dev/null
  $PY "$ROOT/test/reference/deepseek_reference.py" "$dir/ckpt" --prompt-ids "$PROMPT" --mode bf16 --dump-logits "$dir/bf16.npy" >/dev/null
  "$DSC" compile "$dir/ckpt" -o "$dir/sm_90a.exe" --target=cuda:sm_90a "${COMPILE[@]}" 2>/dev/null
  "$DSC" compile "$dir/ckpt" -o "$dir/check.exe" --target=cuda:sm_90a --check-kernels "${COMPILE[@]}" 2>/dev/null
}
prepare tiny-v2 tiny-v2 auto
prepare tiny-v2-lite tiny-v2-lite auto
prepare tiny-v3 tiny-v3 auto
prepare tiny-v3-bf16 tiny-v3 bf16
D="$OUT/tiny-v3"
"$DSC" compile "$D/ckpt" -o "$D/sm_90a-ptx.exe" --target=cuda:sm_90a --no-ptxas "${COMPILE[@]}" 2>/dev/null
"$DSC" compile "$D/ckpt" -o "$D/sm_80.exe" --target=cuda:sm_80 --no-ptxas "${COMPILE[@]}" 2>/dev/null
"$DSC" compile "$D/ckpt" -o "$D/sm_89.exe" --target=cuda:sm_89 --no-ptxas "${COMPILE[@]}" 2>/dev/null
# Paged cache: pages of 4 positions, so prompts span several pages.
"$DSC" compile "$D/ckpt" -o "$D/paged.exe" --target=cuda:sm_90a "${COMPILE[@]}" --page-size 4 2>/dev/null
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite.exe" --target=cuda:sm_90a \
  --max-seq-len 1152 --max-batch 16 --prefill-chunk 1024 --stats
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-long.exe" --target=cuda:sm_90a \
  --max-seq-len 163840 --max-batch 1 --prefill-chunk 1024
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-check.exe" --target=cuda:sm_90a \
  --check-kernels --max-seq-len 64 --max-batch 4 --prefill-chunk 16
# BASE_DSC=path/to/an/earlier/dsc: the same V2-Lite executable from it, which
# check-cuda.py times against this build's in the same call.
if [ -n "${BASE_DSC:-}" ]; then
  "$BASE_DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-base.exe" --target=cuda:sm_90a \
    --max-seq-len 1152 --max-batch 16 --prefill-chunk 1024
fi
cp "$ROOT/examples/deepseek-v2-lite/config.json" "$OUT/v2lite-config.json"
du -sh "$OUT"
tar -C "$ROOT" -cJf "$ROOT/build-device.tar.xz" build-device
ls -l "$ROOT/build-device.tar.xz"
