#!/usr/bin/env bash
#===- run-example.sh - the main job on the bundled example -----------------===#
#
# Installs what is needed, builds dsc, writes the bundled tiny V3-style model
# (examples/tiny-v3: fp8 weights with block scales, random values from seed
# 0), compiles it into a standalone CPU executable and runs it: generated
# token ids on stdout, tokens/s on stderr.
#
#===------------------------------------------------------------------------===#
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${DSC_BUILD_DIR:-$ROOT/build}"
"$ROOT/tools/setup.sh"
"$ROOT/tools/build.sh"

MODEL="$BUILD/example/tiny-v3"
/usr/bin/python3 "$ROOT/tools/make-tiny-checkpoint.py" "$ROOT/examples/tiny-v3" -o "$MODEL" --seed 0
"$BUILD/bin/dsc" info "$MODEL"
"$BUILD/bin/dsc" compile "$MODEL" -o "$BUILD/example/tiny-v3.exe" --max-seq-len 256 --stats
echo "== $BUILD/example/tiny-v3.exe --prompt-ids \"0 17 42 99 7 3 250 11\" -n 32 --bench"
"$BUILD/example/tiny-v3.exe" --prompt-ids "0 17 42 99 7 3 250 11" -n 32 --bench
echo "== $BUILD/example/tiny-v3.exe -p \"Hello there\" -n 24   (random weights: arbitrary text)"
"$BUILD/example/tiny-v3.exe" -p "Hello there" -n 24
