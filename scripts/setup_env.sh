#!/usr/bin/env bash
# Create (or reuse) a virtual environment with the CPU torch wheel and this package.
#   scripts/setup_env.sh VENV_DIR [EXTRAS] [CONSTRAINTS_FILE]
# torch==2.13.0 is pinned first so pip takes the local CPU wheel instead of a
# multi-GB CUDA build; everything else comes from the package's own ranges,
# optionally narrowed by a constraints file (Colab's versions, or the lowest we declare).
set -euo pipefail
venv=${1:?usage: setup_env.sh VENV_DIR [EXTRAS] [CONSTRAINTS_FILE]}
extras=${2:-}
constraints=${3:-}
python=${PYTHON:-python3}

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
pip install "torch==2.13.0"
target="."
[ -n "$extras" ] && target=".[$extras]"
if [ -n "$constraints" ]; then
  pip install -e "$target" -c "$constraints"
else
  pip install -e "$target"
fi
