#!/usr/bin/env bash
# ./run.sh ["prompt"] [extra matspec flags]: install what is missing, build, and
# generate with speculative decoding on the bundled model (MatLM-tiny; draft = its
# F/4 slice, full model verifies), streaming the text and printing the stats.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
bash scripts/build.sh build -DMATSPEC_BUILD_BENCH=OFF >&2
prompt=${1:-"And God said unto Moses,"}
shift || true
exec build/bin/matspec generate --config configs/matlm-tiny.toml -p "$prompt" "$@"
