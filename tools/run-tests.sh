#!/usr/bin/env bash
#===- run-tests.sh - every test of dsc -------------------------------------===#
#
# 1. installs what is needed (tools/setup.sh), checks the C++ format
#    (tools/check-format.sh) and builds dsc (tools/build.sh);
# 2. runs ctest: the lit + FileCheck suites and the gtest unit tests;
# 3. builds test/sanitized with clang 22 and runs the unit tests under
#    AddressSanitizer + UndefinedBehaviorSanitizer;
# 4. runs each libFuzzer target (safetensors header, compiled program,
#    config.json) for DSC_FUZZ_SECONDS (default 60) seconds, in parallel;
#    any finding fails.
#
# Tests that need a GPU are labelled `gpu` and reported as skipped here.
#
#===------------------------------------------------------------------------===#
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${DSC_BUILD_DIR:-$ROOT/build}"
SANITIZED="${DSC_SANITIZED_BUILD_DIR:-$ROOT/build-sanitized}"
FUZZ_SECONDS="${DSC_FUZZ_SECONDS:-60}"
JOBS="$(nproc)"

"$ROOT/tools/setup.sh"

echo "== format"
"$ROOT/tools/check-format.sh"

echo "== build"
"$ROOT/tools/build.sh"

echo "== lit and unit tests"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")

echo "== unit tests under ASan + UBSan"
cmake -S "$ROOT/test/sanitized" -B "$SANITIZED" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++-22 >/dev/null
ninja -C "$SANITIZED"
(cd "$SANITIZED" && ctest --output-on-failure -j "$JOBS")

echo "== fuzzing, ${FUZZ_SECONDS}s per target"
WORK="$SANITIZED/fuzz-work"
rm -rf "$WORK" && mkdir -p "$WORK/safetensors" "$WORK/program" "$WORK/config" "$WORK/request"
FUZZ_FLAGS=(-max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
"$SANITIZED/runtime/fuzz/dsrt-fuzz-safetensors" "${FUZZ_FLAGS[@]}" \
  -dict="$ROOT/runtime/fuzz/safetensors.dict" -artifact_prefix="$WORK/" \
  "$WORK/safetensors" "$ROOT/runtime/fuzz/corpus/safetensors" >"$WORK/safetensors.log" 2>&1 &
SAFETENSORS_PID=$!
"$SANITIZED/runtime/fuzz/dsrt-fuzz-program" "${FUZZ_FLAGS[@]}" -artifact_prefix="$WORK/" \
  "$WORK/program" "$ROOT/runtime/fuzz/corpus/program" >"$WORK/program.log" 2>&1 &
PROGRAM_PID=$!
"$SANITIZED/dsc-fuzz-config" "${FUZZ_FLAGS[@]}" -artifact_prefix="$WORK/" \
  "$WORK/config" "$ROOT/test/fuzz/corpus/config" >"$WORK/config.log" 2>&1 &
CONFIG_PID=$!
"$SANITIZED/runtime/fuzz/dsrt-fuzz-request" "${FUZZ_FLAGS[@]}" -artifact_prefix="$WORK/" \
  "$WORK/request" "$ROOT/runtime/fuzz/corpus/request" >"$WORK/request.log" 2>&1 &
REQUEST_PID=$!
status=0
for target in safetensors:$SAFETENSORS_PID program:$PROGRAM_PID config:$CONFIG_PID request:$REQUEST_PID; do
  name=${target%%:*}
  if wait "${target##*:}"; then
    echo "fuzz $name: no finding ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$WORK/$name.log" | awk '{print $2}') runs)"
  else
    echo "fuzz $name: FINDING, log follows" >&2
    tail -50 "$WORK/$name.log" >&2
    status=1
  fi
done
exit $status
