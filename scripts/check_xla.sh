#!/usr/bin/env bash
# The TPU code path without a TPU: Colab TPU's Python 3.13, torch 2.9.0 and torch_xla 2.9.0
# (from PyPI: torch is the CUDA build, run here on the CPU) with XLA's CPU device.
# scripts/check_xla.py trains the real pipeline in smoke mode and compares the precisions.
#   bash scripts/check_xla.sh [VENV_DIR]
# CI_PHASE=setup only installs, CI_PHASE=test only runs the check.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-xla}
[ "${CI_PHASE:-all}" = test ] || bash scripts/setup_env.sh "$venv" 3.13 2.9.0 "torch_xla==2.9.0" -e .
[ "${CI_PHASE:-all}" = setup ] && exit 0
export PJRT_DEVICE=CPU OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
work=$(mktemp -d)
"$venv/bin/python" scripts/check_xla.py "$work"
