#!/usr/bin/env bash
# Set up a virtual environment (if needed) and run the demo on sample_data/.
# Usage: bash scripts/demo.sh [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/il6assay demo "$@"
