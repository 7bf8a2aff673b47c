#!/usr/bin/env bash
#===- build.sh - configure and build dsc -----------------------------------===#
#
# Configures dsc against Debian's LLVM/MLIR 22 into build/ (override with
# DSC_BUILD_DIR) and builds every target.
#
#===------------------------------------------------------------------------===#
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${DSC_BUILD_DIR:-$ROOT/build}"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ >/dev/null
ninja -C "$BUILD"
