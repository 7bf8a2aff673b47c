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
#   <model>/embedded.exe  tiny-v2, tiny-v2-lite-fp8: with --embed-weights
#   dsrt-gpu-unittests    the device fp8 quantiser against the host one
#   dsc-bench-upload      the weights upload's reads and copies timed apart
#   <model>/check-long.exe  the same with 256 positions (tiny-v2-lite,
#                         tiny-v3): decode attention over several shares
#   tiny-v3/check-sqrt.exe  with room for 1,100 positions (shares by the
#                         square root of the context)
#   <model>/check-router.exe  with --fuse-router (tiny-v2, tiny-v3; tiny-v3
#                         also check-router-sm80.exe, PTX for sm_80)
#   v2lite.exe            the real DeepSeek-V2-Lite config for sm_90a
#   v2lite-fp8.exe        the same with --quantize=fp8
#   <model>/check-merge.exe  with --fuse-attention-combine (tiny-v2-lite,
#                         tiny-v3; room for 1,100 positions)
#   v2lite-rows1.exe, v2lite-fp8-rows4.exe  with --row-group=1 and 4
#   v2lite-unfused.exe, v2lite-router.exe, v2lite-merge.exe  with
#                         --fuse-norms=false, --fuse-router,
#                         --fuse-attention-combine (check-cuda.py: the same
#                         logits)
#   v2lite-check.exe      the same with --check-kernels, small geometry
#   v2lite-{bf16,fp8}-tile-check.exe  with --tile-mma, room for 20 rows
#   <model>/check-tile.exe  with --tile-mma (tiny-v2-lite, tiny-v3-bf16,
#                         tiny-v3), room for 20 rows
#   v2lite-long.exe       the same with the model's whole context (163840)
#   v3-6layers.exe        the real V3 config cut to 6 layers (fp8)
#   *-info*.json          `dsc info --json` of each, for perf_table.py's floors
#   startup.py, make-tiny-checkpoint.py, v2lite-config/: start-up of a
#                         full-size V2-Lite checkpoint written there
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
cp "$ROOT/tools/device/check-cuda.py" "$ROOT/tools/device/perf_table.py" \
  "$ROOT/tools/device/decode-quick.py" "$ROOT/tools/device/ncu-decode.sh" \
  "$ROOT/tools/device/startup.py" "$ROOT/tools/device/same-logits.py" \
  "$ROOT/tools/make-tiny-checkpoint.py" "$OUT/"
# startup.py writes a full-size checkpoint of this config on the GPU machine.
mkdir -p "$OUT/v2lite-config" && cp "$ROOT/examples/deepseek-v2-lite/config.json" "$OUT/v2lite-config/"

PROMPT="$($PY -c "import numpy as np; print(' '.join(map(str, np.random.default_rng(11).integers(2, 512, size=32))))")"
COMPILE=(--max-seq-len 64 --max-batch 4 --prefill-chunk 12)

prepare() { # name config dtype [quantize]
  local name=$1 config=$2 dtype=$3 quantize=${4:-none} dir="$OUT/$1"
  local q=(--quantize="$quantize") rq=()
  [ "$quantize" = none ] || rq=(--quantize "$quantize")
  mkdir -p "$dir"
  echo "$PROMPT" > "$dir/prompt.txt"
  $PY "$ROOT/tools/make-tiny-checkpoint.py" "$ROOT/examples/$config" -o "$dir/ckpt" --seed 7 --dtype "$dtype" --shards 1 >/dev/null
  "$DSC" compile "$dir/ckpt" -o "$dir/cpu.exe" "${q[@]}" "${COMPILE[@]}" 2>/dev/null
  "$dir/cpu.exe" --prompt-ids "$PROMPT" -n 1 --dump-logits "$dir/cpu.npy" >/dev/null
  $PY "$ROOT/test/reference/deepseek_reference.py" "$dir/ckpt" "${rq[@]}" --prompt-ids "$PROMPT" --mode exact --dump-logits "$dir/exact.npy" >/dev/null
  $PY "$ROOT/test/reference/deepseek_reference.py" "$dir/ckpt" "${rq[@]}" --prompt-ids "$PROMPT" --mode bf16 --dump-logits "$dir/bf16.npy" >/dev/null
  "$DSC" compile "$dir/ckpt" -o "$dir/sm_90a.exe" --target=cuda:sm_90a "${q[@]}" "${COMPILE[@]}" 2>/dev/null
  "$DSC" compile "$dir/ckpt" -o "$dir/check.exe" --target=cuda:sm_90a --check-kernels "${q[@]}" "${COMPILE[@]}" 2>/dev/null
}
prepare tiny-v2 tiny-v2 auto
prepare tiny-v2-lite tiny-v2-lite auto
prepare tiny-v3 tiny-v3 auto
prepare tiny-v3-bf16 tiny-v3 bf16
# --quantize=fp8: bf16 checkpoints quantised when the weights load, against
# the reference that quantises them itself by the same rule.
prepare tiny-v2-lite-fp8 tiny-v2-lite auto fp8
prepare tiny-v2-fp8 tiny-v2 auto fp8
# Start-up paths (check-cuda.py): the same programs with their weights
# embedded (fp8 quantised on the host by dsc), against the executables that
# stream the checkpoint (fp8 quantised on the GPU); the GPU unit tests.
for name in tiny-v2 tiny-v2-lite-fp8; do
  q=(); [ "$name" = tiny-v2-lite-fp8 ] && q=(--quantize=fp8)
  "$DSC" compile "$OUT/$name/ckpt" -o "$OUT/$name/embedded.exe" --target=cuda:sm_90a --embed-weights \
    "${q[@]}" "${COMPILE[@]}" 2>/dev/null
done
if [ -x "$BUILD/runtime/test/dsrt-gpu-unittests" ]; then
  cp "$BUILD/runtime/test/dsrt-gpu-unittests" "$OUT/"
fi
# The weights upload's parts apart: ./dsc-bench-upload /tmp/ck/*.safetensors
# after `startup.py . --keep /tmp/ck`.
if [ -x "$BUILD/bin/dsc-bench-upload" ]; then
  cp "$BUILD/bin/dsc-bench-upload" "$OUT/"
fi
D="$OUT/tiny-v3"
"$DSC" compile "$D/ckpt" -o "$D/sm_90a-ptx.exe" --target=cuda:sm_90a --no-ptxas "${COMPILE[@]}" 2>/dev/null
"$DSC" compile "$D/ckpt" -o "$D/sm_80.exe" --target=cuda:sm_80 --no-ptxas "${COMPILE[@]}" 2>/dev/null
"$DSC" compile "$D/ckpt" -o "$D/sm_89.exe" --target=cuda:sm_89 --no-ptxas "${COMPILE[@]}" 2>/dev/null
# Decode attention over several shares of the positions (position_split:
# at least 32 positions a share), checked kernel by kernel against its host
# twins with prompts of up to 200 tokens.
for name in tiny-v2-lite tiny-v3; do
  "$DSC" compile "$OUT/$name/ckpt" -o "$OUT/$name/check-long.exe" --target=cuda:sm_90a --check-kernels \
    --max-seq-len 256 --max-batch 4 --prefill-chunk 64 2>/dev/null
done
# Past 1,024 positions a token's shares number ceil(sqrt(n)): tiny-v3 with
# room for a 1,100-token prompt, checked against its host twins.
"$DSC" compile "$D/ckpt" -o "$D/check-sqrt.exe" --target=cuda:sm_90a --check-kernels \
  --max-seq-len 1152 --max-batch 2 --prefill-chunk 256 2>/dev/null
# The router in one kernel (--fuse-router, off by default): ds.moe_gate's
# cluster kernel (sm_90a: tiny-v2's group-limited choice, tiny-v3's noaux_tc
# with its bias) and its block kernel (sm_80, PTX) against their host twins.
for name in tiny-v2 tiny-v3; do
  "$DSC" compile "$OUT/$name/ckpt" -o "$OUT/$name/check-router.exe" --target=cuda:sm_90a --check-kernels \
    --fuse-router --fuse-norms "${COMPILE[@]}" 2>/dev/null
done
"$DSC" compile "$D/ckpt" -o "$D/check-router-sm80.exe" --target=cuda:sm_80 --no-ptxas --check-kernels \
  --fuse-router "${COMPILE[@]}" 2>/dev/null
# The attention's shares merged in the value product
# (--fuse-attention-combine): its cluster kernel against its host twin, at
# up to 200 positions (7 shares) and at 1,100 (34).
for name in tiny-v2-lite tiny-v3; do
  "$DSC" compile "$OUT/$name/ckpt" -o "$OUT/$name/check-merge.exe" --target=cuda:sm_90a --check-kernels \
    --fuse-attention-combine --max-seq-len 1152 --max-batch 4 --prefill-chunk 256 2>/dev/null
done
# Decode's products on tensor cores (--tile-mma, the default on cuda
# targets; named here since the tiny models' shapes matter): bf16 with
# folded norms (tiny-v2-lite, tiny-v3-bf16) and fp8 (tiny-v3) against their
# host twins, room for a decode batch of 20 (two row groups).
for name in tiny-v2-lite tiny-v3-bf16 tiny-v3; do
  "$DSC" compile "$OUT/$name/ckpt" -o "$OUT/$name/check-tile.exe" --target=cuda:sm_90a --check-kernels \
    --tile-mma --fuse-norms --max-seq-len 64 --max-batch 20 --prefill-chunk 12 2>/dev/null
done
# Paged cache: pages of 4 positions, so prompts span several pages.
"$DSC" compile "$D/ckpt" -o "$D/paged.exe" --target=cuda:sm_90a "${COMPILE[@]}" --page-size 4 2>/dev/null
# The performance table (perf_table.py): V2-Lite in bf16 and fp8 for batches
# up to 64 and 4K contexts, the whole context at batch 1, the V3 config cut
# to 6 layers; `dsc info` of each for the floors.
V2LITE=(--target=cuda:sm_90a --max-seq-len 4200 --max-batch 64 --prefill-chunk 1024)
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite.exe" "${V2LITE[@]}" --stats
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-fp8.exe" "${V2LITE[@]}" --quantize=fp8
# The same without its decode norms folded into the products: check-cuda.py
# compares the two executables' logits bit for bit.
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-unfused.exe" "${V2LITE[@]}" --fuse-norms=false
# With the router in one kernel (--fuse-router): the same logits bit for bit.
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-router.exe" "${V2LITE[@]}" --fuse-router
# The products with a warp per row (--row-group=1; bf16's default is groups
# of 4) and fp8's in groups of 4 (--row-group=4; its default is 1): the
# logits of the defaults bit for bit.
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-rows1.exe" "${V2LITE[@]}" --row-group=1
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-fp8-rows4.exe" "${V2LITE[@]}" \
  --quantize=fp8 --row-group=4
# With the shares merged in the value product: the same logits bit for bit.
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-merge.exe" "${V2LITE[@]}" --fuse-attention-combine
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-long.exe" --target=cuda:sm_90a \
  --max-seq-len 163840 --max-batch 1 --prefill-chunk 1024
"$DSC" info "$ROOT/examples/deepseek-v2-lite" --json > "$OUT/v2lite-info-bf16.json"
"$DSC" info "$ROOT/examples/deepseek-v2-lite" --json --quantize=fp8 > "$OUT/v2lite-info-fp8.json"
mkdir -p "$OUT/v3-6layers"
$PY -c "import json, sys; c = json.load(open(sys.argv[1])); c['num_hidden_layers'] = 6; json.dump(c, open(sys.argv[2], 'w'), indent=2)" \
  "$ROOT/examples/deepseek-v3/config.json" "$OUT/v3-6layers/config.json"
"$DSC" compile "$OUT/v3-6layers" -o "$OUT/v3-6layers.exe" --target=cuda:sm_90a \
  --max-seq-len 256 --max-batch 16 --prefill-chunk 256
"$DSC" info "$OUT/v3-6layers" --json > "$OUT/v3-6layers-info.json"
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-check.exe" --target=cuda:sm_90a \
  --check-kernels --max-seq-len 64 --max-batch 4 --prefill-chunk 16
"$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-fp8-check.exe" --target=cuda:sm_90a \
  --check-kernels --quantize=fp8 --max-seq-len 64 --max-batch 4 --prefill-chunk 16
for q in bf16 fp8; do
  "$DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-$q-tile-check.exe" --target=cuda:sm_90a \
    --check-kernels --tile-mma --quantize=$([ $q = fp8 ] && echo fp8 || echo none) \
    --max-seq-len 64 --max-batch 20 --prefill-chunk 16
done
# BASE_DSC=path/to/an/earlier/dsc: the same V2-Lite executable from it, which
# check-cuda.py times against this build's in the same call.
if [ -n "${BASE_DSC:-}" ]; then
  "$BASE_DSC" compile "$ROOT/examples/deepseek-v2-lite" -o "$OUT/v2lite-base.exe" "${V2LITE[@]}"
fi
cp "$ROOT/examples/deepseek-v2-lite/config.json" "$OUT/v2lite-config.json"
# The sampler's statistical checks (test/e2e/sampling.py) on the GPU's kernel.
cp "$ROOT/test/e2e/sampling.py" "$OUT/"
$PY "$ROOT/test/e2e/sampling.py" --dsc "$DSC" --target cuda:sm_90a --build-only "$OUT/sampling" >/dev/null
du -sh "$OUT"
tar -C "$ROOT" -cJf "$ROOT/build-device.tar.xz" build-device
ls -l "$ROOT/build-device.tar.xz"
