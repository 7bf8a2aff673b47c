#!/usr/bin/env bash
#===- setup.sh - install what dsc needs to build and test ------------------===#
#
# Installs, from Debian 12's package archive, everything dsc's build and tests
# use: the compilers, LLVM/MLIR 22 (security suite), clang 22 with its
# sanitizer and libFuzzer runtimes, GoogleTest, and NumPy for the reference
# and checkpoint tools. Safe to run again; skips the install when every
# package is already there. Needs root (or sudo).
#
#===------------------------------------------------------------------------===#
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ git python3 python3-numpy
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  clang-22 libclang-rt-22-dev clang-format-22
  libgtest-dev libbenchmark-dev libflatbuffers-dev flatbuffers-compiler libpcre2-dev
  # The executable's server (./model serve): Boost.Beast over Boost.Asio and
  # nlohmann::json, all header-only, so the executable stays standalone.
  libboost1.81-dev nlohmann-json3-dev
  # Found by LLVM's CMake package when it is loaded.
  zlib1g-dev libzstd-dev libedit-dev libxml2-dev libffi-dev libcurl4-openssl-dev
)

# node and npm run the tokenizer compatibility test (the reference
# implementation is an npm package); Debian's are enough where none is
# installed.
command -v node >/dev/null && command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
