#!/bin/sh
# Executables for a quick A/B device call, without the full check bundle
# (prepare-cuda-checks.sh takes 5-7 minutes; this about one).
#
#   quick-bundle.sh OUT [SUFFIX [DSC]] [-- FLAG...]
#
# Compiles into OUT, with the flags of docs/performance.md's decode
# figures and FLAGs added to every compile:
#   v2l-bf16SUFFIX.exe, v2l-fp8SUFFIX.exe   V2-Lite, bf16 and --quantize=fp8
#                                           (--max-seq-len 4200 --max-batch 64
#                                           --prefill-chunk 1024)
#   v3-6SUFFIX.exe                          the real V3 config cut to 6 layers
#                                           (--max-seq-len 256 --max-batch 16
#                                           --prefill-chunk 256)
#   v2l-bf16-checkSUFFIX.exe, v2l-fp8-checkSUFFIX.exe, v3-6-checkSUFFIX.exe
#                                           the same with --check-kernels
#                                           (64 positions, 4 rows)
# and OUT/v3-6layers/config.json. DSC defaults to build/bin/dsc; a copy
# elsewhere needs DSC_RUNTIME_DIR. Call it once per variant (another DSC, a
# SUFFIX, other FLAGs), then carry OUT as a tar at the repository root:
#   tar -C OUT -cJf quick.tar.xz .      # device: mkdir q && tar -xJf quick.tar.xz -C q
#   python3 tools/device/decode-quick.py q v2l-fp8.exe,v2l-fp8-b.exe --repeat 2
#   q/v2l-fp8-check-b.exe --dummy-weights --check-kernels -n 2 --prompt-mode decode --prompt-ids "5 77 9"
set -eu
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: quick-bundle.sh OUT [SUFFIX [DSC]] [-- FLAG...]" >&2; exit 2; }
OUT=$1; shift
SUFFIX=""; DSC="$ROOT/build/bin/dsc"
if [ $# -ge 1 ] && [ "$1" != "--" ]; then SUFFIX=$1; shift; fi
if [ $# -ge 1 ] && [ "$1" != "--" ]; then DSC=$1; shift; fi
[ $# -ge 1 ] && [ "$1" = "--" ] && shift
[ -x "$DSC" ] || { echo "quick-bundle.sh: no dsc at $DSC" >&2; exit 1; }
PY=/usr/bin/python3
mkdir -p "$OUT/v3-6layers"
$PY -c "import json, sys; c = json.load(open(sys.argv[1])); c['num_hidden_layers'] = 6; json.dump(c, open(sys.argv[2], 'w'), indent=2)" \
  "$ROOT/examples/deepseek-v3/config.json" "$OUT/v3-6layers/config.json"
V2LITE="--target=cuda:sm_90a --max-seq-len 4200 --max-batch 64 --prefill-chunk 1024"
V3="--target=cuda:sm_90a --max-seq-len 256 --max-batch 16 --prefill-chunk 256"
CHECK="--target=cuda:sm_90a --check-kernels --max-seq-len 64 --max-batch 4 --prefill-chunk 16"
V2L="$ROOT/examples/deepseek-v2-lite"
compile() { # checkpoint output flags...
  ckpt=$1 exe=$2; shift 2
  "$DSC" compile "$ckpt" -o "$OUT/$exe" "$@" 2>&1 | grep -v "^dsc: note:" >&2 || true
  [ -x "$OUT/$exe" ] || { echo "quick-bundle.sh: $exe was not built" >&2; exit 1; }
  echo "$OUT/$exe"
}
rm -f "$OUT/v2l-bf16$SUFFIX.exe" "$OUT/v2l-fp8$SUFFIX.exe" "$OUT/v3-6$SUFFIX.exe" \
  "$OUT/v2l-bf16-check$SUFFIX.exe" "$OUT/v2l-fp8-check$SUFFIX.exe" "$OUT/v3-6-check$SUFFIX.exe"
# shellcheck disable=SC2086 # the flag lists split on purpose
{
  compile "$V2L" "v2l-bf16$SUFFIX.exe" $V2LITE "$@"
  compile "$V2L" "v2l-fp8$SUFFIX.exe" $V2LITE --quantize=fp8 "$@"
  compile "$OUT/v3-6layers" "v3-6$SUFFIX.exe" $V3 "$@"
  compile "$V2L" "v2l-bf16-check$SUFFIX.exe" $CHECK "$@"
  compile "$V2L" "v2l-fp8-check$SUFFIX.exe" $CHECK --quantize=fp8 "$@"
  compile "$OUT/v3-6layers" "v3-6-check$SUFFIX.exe" $CHECK "$@"
}
