#!/usr/bin/env bash
# Set up everything the tests need and run them.
#  - scripts/setup.sh: system libraries for headless Qt (as root), .venv with the package and
#    its test and lint extras;
#  - runs pytest (napari tests run on a virtual X display through pytest-xvfb; the docstring
#    examples in src/ run too, see [tool.pytest.ini_options] in pyproject.toml).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/io/test_layout.py -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
