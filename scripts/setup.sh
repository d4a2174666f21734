#!/usr/bin/env bash
# Creates .venv (if needed) and installs epochal with its test tools.
# On a machine without an NVIDIA GPU the CPU build of torch is installed first, so that the
# package's `torch>=2.4` requirement does not pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${PIP[@]}" install "torch>=2.4"
  else
    "${PIP[@]}" install "torch==2.13.0" || "${PIP[@]}" install "torch>=2.4"
  fi
fi
"${PIP[@]}" install -e ".[${EPOCHAL_EXTRAS:-dev}]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import epochal, torch; print('epochal', epochal.__version__, 'on torch', torch.__version__)"
