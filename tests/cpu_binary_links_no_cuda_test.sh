#!/usr/bin/env bash
# tests/cpu_binary_links_no_cuda_test.sh MATSPEC_BINARY: the matspec binary
# links no CUDA library, in any build (the CUDA backend is a module opened only
# for --device cuda), and `--help` runs without loading one.
set -euo pipefail
bin=$1
if ldd "$bin" | grep -Ei 'libcuda|libcudart|libcublas|libnvrtc'; then
  echo "FAIL: $bin links a CUDA library (above)" >&2
  exit 1
fi
out=$(LD_DEBUG=libs "$bin" --help 2>&1 >/dev/null || true)
if grep -Ei 'libcudart|libcublas' <<<"$out" | grep -i 'calling init' >/dev/null; then
  echo "FAIL: $bin --help loaded a CUDA library" >&2
  exit 1
fi
echo "ok: $bin links and loads no CUDA library"
