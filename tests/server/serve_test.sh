#!/usr/bin/env bash
# Runs tests/server/serve_test.py with the venv that scripts/setup.sh makes
# (.venv-serve: the pinned `openai` and `prometheus_client`); exit 77 (CTest's
# skip) when that venv is absent or incomplete.
# Usage: serve_test.sh path/to/matspec [check names...] (from the repository root)
set -euo pipefail
py=.venv-serve/bin/python
if [ ! -x "$py" ] || ! "$py" -c 'import openai, prometheus_client' 2>/dev/null; then
  echo "SKIP: .venv-serve with openai and prometheus_client is missing (bash scripts/setup.sh makes it)"
  exit 77
fi
exec "$py" tests/server/serve_test.py "$@"
