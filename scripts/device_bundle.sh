#!/usr/bin/env bash
# Packs binaries built on this (GPU-less) machine into .dev/ for a run on a
# lent GPU machine: the executables named on the command line go to .dev/bin,
# and every shared library they need that a bare CUDA image lacks (Abseil,
# sentencepiece, protobuf-lite, libcudart) goes to .dev/lib. cuBLAS is taken
# from the GPU machine's own CUDA toolkit. On that machine:
#   export LD_LIBRARY_PATH=$PWD/.dev/lib:/usr/local/cuda/lib64:$LD_LIBRARY_PATH
# .dev/ is ignored by git (.git/info/exclude) and travels as a carried path.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.dev/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.dev/' >> .git/info/exclude; }
rm -rf .dev && mkdir -p .dev/bin .dev/lib
for exe in "$@"; do
  cp "$exe" .dev/bin/
  strip --strip-debug .dev/bin/"$(basename "$exe")" 2>/dev/null || true
  ldd "$exe" | awk '/=> \//{print $3}' | grep -E 'libabsl|libsentencepiece|libprotobuf|libtomlplusplus|libgomp|libcudart|libbenchmark|libgtest|libgmock' |
    while read -r lib; do cp -n "$lib" .dev/lib/ 2>/dev/null || true; done
done
du -sh .dev
