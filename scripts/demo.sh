#!/usr/bin/env bash
# Sets up .venv and runs the demo: a small digit classifier trained with the standard callbacks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/epochal demo "$@"
