#!/usr/bin/env bash
# Installs the Debian packages matspec builds with, when any is missing.
# Sourced by run.sh and test.sh; safe to run again. `setup.sh fuzz` installs
# only what the fuzz stage needs (clang, its libFuzzer runtime, libomp), best
# effort: scripts/fuzz.sh skips the stage when they cannot be had.
set -euo pipefail

if [ "${1:-}" = "fuzz" ]; then
  MATSPEC_PACKAGES=(clang libclang-rt-dev libomp-dev)
else
  MATSPEC_PACKAGES=(cmake g++ make pkg-config ccache libabsl-dev libtomlplusplus-dev nlohmann-json3-dev
    libsentencepiece-dev sentencepiece libgtest-dev libgmock-dev libbenchmark-dev python3-numpy
    librsvg2-bin)
fi

missing=()
for p in "${MATSPEC_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "matspec: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
