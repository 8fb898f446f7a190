#!/usr/bin/env bash
# The whole test suite on a fresh machine: unit tests, the command line end to
# end, and every notebook under nbval in smoke mode.
#   scripts/test.sh            the package's newest allowed versions
#   scripts/test.sh colab      Colab's preinstalled versions (tests/constraints/colab-gpu.txt)
#   scripts/test.sh lowest     the lowest versions pyproject.toml declares (tests/constraints/lowest.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-default}
case "$profile" in
  default) venv=.venv-test; constraints="" ;;
  colab)   venv=.venv-colab; constraints=tests/constraints/colab-gpu.txt ;;
  lowest)  venv=.venv-lowest; constraints=tests/constraints/lowest.txt ;;
  *) echo "unknown profile: $profile (default, colab or lowest)" >&2; exit 2 ;;
esac
bash scripts/setup_env.sh "$venv" test "$constraints"
"$venv/bin/python" -m pip list 2>/dev/null | grep -iE "^(torch|transformers|tokenizers|pytorch-lightning|torchmetrics|huggingface.hub|numpy|pandas|matplotlib|ipywidgets|ipykernel) " || true
# One torch thread per process: on 2 cores a busy kernel otherwise slows training ~50x.
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false NLPBOOK_SMOKE=1
export NLPBOOK_WORK_DIR=${NLPBOOK_WORK_DIR:-$(mktemp -d)}
"$venv/bin/python" -m pytest tests --nbval-lax notebooks -p no:cacheprovider
