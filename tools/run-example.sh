#!/usr/bin/env bash
#===- run-example.sh - the main job on the bundled example -----------------===#
#
# Installs what is needed, builds dsc, summarises the bundled DeepSeek-V3
# config and compiles it to ds IR (build/deepseek-v3.ds.mlir).
#
#===------------------------------------------------------------------------===#
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${DSC_BUILD_DIR:-$ROOT/build}"
"$ROOT/tools/setup.sh"
"$ROOT/tools/build.sh"
"$BUILD/bin/dsc" info "$ROOT/examples/deepseek-v3"
"$BUILD/bin/dsc" compile "$ROOT/examples/deepseek-v3" --emit=ds -o "$BUILD/deepseek-v3.ds.mlir"
echo "wrote $BUILD/deepseek-v3.ds.mlir ($(grep -c '= ds.mla ' "$BUILD/deepseek-v3.ds.mlir") attention layers over 2 entry points)"
