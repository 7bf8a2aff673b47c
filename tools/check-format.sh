#!/usr/bin/env bash
#===- check-format.sh - check the tree against .clang-format ---------------===#
#
# Runs clang-format 22 (Debian's clang-format-22, installed by setup.sh) over
# every tracked C++ file in dry-run mode and fails, listing the files, when
# any would change. Fix with:
#
#   git ls-files '*.cpp' '*.h' | xargs clang-format-22 -i
#
# The version is pinned because clang-format's output changes between
# releases; the format of the tree is the format of this version.
#
#===------------------------------------------------------------------------===#
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

FORMAT="${DSC_CLANG_FORMAT:-}"
if [ -z "$FORMAT" ]; then
  for candidate in clang-format-22 /usr/lib/llvm-22/bin/clang-format; do
    if command -v "$candidate" >/dev/null; then FORMAT="$candidate"; break; fi
  done
fi
if [ -z "$FORMAT" ]; then
  echo "check-format: clang-format 22 not found (apt-get install clang-format-22," \
       "or set DSC_CLANG_FORMAT)" >&2
  exit 1
fi

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "check-format: $ROOT is not a git checkout; nothing to check" >&2
  exit 1
fi

mapfile -t files < <(git ls-files '*.cpp' '*.h')
unformatted=()
for f in "${files[@]}"; do
  if ! "$FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1; then
    unformatted+=("$f")
  fi
done
if [ ${#unformatted[@]} -ne 0 ]; then
  echo "check-format: ${#unformatted[@]} of ${#files[@]} files differ from .clang-format:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "fix: git ls-files '*.cpp' '*.h' | xargs $FORMAT -i" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
