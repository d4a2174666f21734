#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite (ruff, mypy, then pytest with doctests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} .venv/bin/python -m pytest "$@"
