#!/usr/bin/env bash
# The lint and type step: ruff check, ruff format --check and mypy, with the configuration in
# pyproject.toml. All three run even when one fails, so one run lists every problem; the exit
# code is 1 when any failed. The tools come from the `lint` extra (scripts/setup.sh installs
# it into .venv); VENV=/path/to/venv uses another environment's tools.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
for tool in ruff mypy; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "lint: $BIN/$tool not found: run 'bash scripts/setup.sh' (installs the lint extra)" >&2
    exit 1
  fi
done

failed=()
step() {
  local name=$1
  shift
  echo "=== lint: $name ($*)"
  if "$@"; then
    echo "=== lint: $name: passed"
  else
    echo "=== lint: $name: FAILED"
    failed+=("$name")
  fi
}
step "ruff check" "$BIN/ruff" check --output-format concise .
step "ruff format" "$BIN/ruff" format --check .
step "mypy" "$BIN/mypy"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint: ruff check, ruff format and mypy passed"
