#!/usr/bin/env bash
# Sets up .venv and runs the demo: the seed MLP on the embedded digits, with callbacks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/epochal demo "$@"
