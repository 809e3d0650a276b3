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
    libcpp-httplib-dev python3-venv librsvg2-bin)
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

# The server test's client (tests/server/): the official `openai` package and
# `prometheus_client`, pinned in tests/server/requirements.txt, in a venv of the
# repository (.venv-serve, rebuilt when the pins change). Best effort: without
# PyPI the server test skips.
if [ "${1:-}" != "fuzz" ]; then
  (
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    venv=.venv-serve
    req=tests/server/requirements.txt
    if ! cmp -s "$req" "$venv/requirements.txt" 2>/dev/null; then
      echo "matspec: installing the server test's Python client into $venv" >&2
      rm -rf "$venv"
      if python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"; then
        cp "$req" "$venv/requirements.txt"
      else
        rm -rf "$venv"
        echo "matspec: could not install $req; the server test will be skipped" >&2
      fi
    fi
  )
fi
