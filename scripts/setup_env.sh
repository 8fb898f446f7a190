#!/usr/bin/env bash
# Create (or reuse) a virtual environment with one Python, one torch, and what follows.
#   scripts/setup_env.sh VENV_DIR PYTHON_VERSION TORCH_VERSION [PIP_INSTALL_ARGS...]
#   e.g. scripts/setup_env.sh .venv 3.11 2.13.0 -e ".[test]"
# torch is installed first, alone, then pinned while the rest is installed, so
# nothing can swap it for another build. The Python comes from PATH or pyenv.
# With BASE_VENV set, the new environment sees BASE_VENV's packages as if they
# were its system site-packages (torch included, which is not installed again):
# how the Colab profile tests an install on top of Colab's preinstalled packages.
# With NLPBOOK_PIP set, pip is that version exactly (Colab's 24.1.2: its resolver is the
# one a learner's install cell meets); otherwise pip is upgraded. (Not PIP_VERSION: pip
# reads every PIP_* variable as one of its own options.)
# A second call with the same arguments and the same pyproject.toml and constraint
# files installs nothing: the venv keeps a stamp of what it was set up with.
set -euo pipefail
venv=${1:?usage: setup_env.sh VENV_DIR PYTHON_VERSION TORCH_VERSION [PIP_INSTALL_ARGS...]}
python_version=${2:?python version, e.g. 3.13}
torch_version=${3:?torch version, e.g. 2.11.0}
shift 3

find_python() {  # the python$1 that runs, from PATH or from pyenv's versions
  local candidate
  for candidate in "$(command -v "python$1" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c "" 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "setup_env.sh: Python $1 not found (install it, e.g. with pyenv)" >&2
  return 1
}

if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$python_version" ]; then
  echo "setup_env.sh: $venv has another Python; delete it first" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$(find_python "$python_version")" -m venv "$venv"
stamp_file="$venv/.nlpbook-setup"
stamp=$(cat pyproject.toml tests/constraints/*.txt 2>/dev/null | cat - <(echo "$* ${BASE_VENV:-} $torch_version ${NLPBOOK_PIP:-}") | sha256sum | cut -c1-16)
if [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
  echo "setup_env.sh: $venv is already set up for this"
  exit 0
fi
rm -f "$stamp_file"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# The CUDA libraries of PyPI's torch (the nvidia-* wheels: pure data, ~4.3 GB for torch 2.9.0) are the same files
# for every Python. Another environment of this checkout with the same torch lends them as hard links before torch
# is installed: pip finds them in place and downloads and writes nothing (the lowest profile and the XLA check share
# torch 2.9.0 on Pythons 3.10 and 3.13). Should torch want other versions, pip replaces them as usual, and removing
# a link leaves the other environment's copy alone.
share_cuda_libraries() {
  local site other
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  for other in .venv*/lib/python3*/site-packages; do
    if [ "$(cd "$other" && pwd -P)" != "$(cd "$site" && pwd -P)" ] && [ -d "$other/torch-$torch_version.dist-info" ] \
        && [ -d "$other/nvidia" ] && [ ! -e "$site/nvidia" ]; then
      cp -al "$other/nvidia" "$other"/nvidia_*.dist-info "$site/"
      rm -rf "$site/nvidia/__pycache__"
      echo "setup_env.sh: CUDA libraries linked from $other"
      return
    fi
  done
}
if [ -n "${NLPBOOK_PIP:-}" ]; then pip install "pip==$NLPBOOK_PIP"; else pip install --upgrade pip; fi
if [ -n "${BASE_VENV:-}" ]; then
  base_site=$("$BASE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  venv_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  # addsitedir also runs the base's own .pth files, as a system site-packages would; and like a system
  # site-packages, pip's build isolation (its pip-build-env-* folder on PYTHONPATH) leaves it out: else the base's
  # setuptools (Colab's 75.2.0) would build this package in place of the setuptools>=77 pyproject.toml asks for
  echo "import os, site; 'pip-build-env-' in os.environ.get('PYTHONPATH', '') or site.addsitedir('$base_site')" \
    > "$venv_site/_base_venv.pth"
else
  share_cuda_libraries
  pip install "torch==$torch_version"
fi
"$venv/bin/python" -c "import sys; from importlib.metadata import version; v = version('torch').split('+')[0]
sys.exit(v != '$torch_version' and f'torch {v} is not $torch_version')"
pin=$(mktemp)
trap 'rm -f "$pin"' EXIT
echo "torch==$torch_version" > "$pin"
[ $# -eq 0 ] || pip install -c "$pin" "$@"
echo "$stamp" > "$stamp_file"
