#!/usr/bin/env bash
# The whole test suite on a fresh machine: unit tests, the command line end to
# end, notebook 07 stopped and rerun in a real kernel (tests/test_kernel.py), and
# every notebook run headless in smoke mode by nbval (`--nbval-lax notebooks`).
#   scripts/test.sh          Python 3.11, torch 2.13.0 and the package's newest allowed versions, and the
#                            browser tests (chromium and fonts-noto-cjk from apt-get when run as root)
#   scripts/test.sh colab    Colab's GPU runtime: Python 3.13, pip 24.1.2, torch 2.11.0 (the CUDA build, run on
#                            the CPU) and its preinstalled versions, notebook stack included
#                            (tests/constraints/colab-gpu.txt); the notebooks run in its ipykernel, and the
#                            notebooks' install cell runs on top of those packages (tests/test_install_cell.py)
#   scripts/test.sh lowest   the lowest versions we declare: Python 3.10, torch 2.9.0 and tests/constraints/lowest.txt
# Extra arguments go to pytest in place of the whole suite, e.g. scripts/test.sh colab tests/test_runtime.py
# CI_PHASE=setup only installs, CI_PHASE=test only tests (.ci/run installs one environment at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-default}
[ $# -gt 0 ] && shift
phase=${CI_PHASE:-all}
case "$profile" in
  default) venv=.venv ;;  # shared with scripts/demo.sh, which installs the package without the test tools
  colab)   venv=.venv-colab; export NLPBOOK_COLAB_RUNTIME=$PWD/.venv-colab-runtime NLPBOOK_PIP=24.1.2 ;;  # Colab's pip
  lowest)  venv=.venv-lowest ;;
  *) echo "unknown profile: $profile (default, colab or lowest)" >&2; exit 2 ;;
esac
if [ "$phase" != test ]; then
  case "$profile" in
    default)
      # the browser tests: Debian's chromium (Playwright's own download cannot run here) and a Hangul font
      if ! { [ -x /usr/bin/chromium ] && fc-list | grep -qi "Noto Sans CJK"; } && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk
      fi
      bash scripts/setup_env.sh "$venv" 3.11 2.13.0 -e ".[test,browser]" ;;
    colab)
      # Colab's packages in one environment without this package, the test environment layered on top:
      # the install-cell test installs on the bare layer, as a learner's first cell does.
      # --only-binary: every dependency must have a wheel for Python 3.13, or this fails here.
      bash scripts/setup_env.sh "$NLPBOOK_COLAB_RUNTIME" 3.13 2.11.0 --only-binary=:all: -r tests/constraints/colab-gpu.txt
      BASE_VENV=$NLPBOOK_COLAB_RUNTIME bash scripts/setup_env.sh "$venv" 3.13 2.11.0 \
        --only-binary=:all: -e ".[test]" -c tests/constraints/colab-gpu.txt ;;
    lowest)
      bash scripts/setup_env.sh "$venv" 3.10 2.9.0 -e ".[test]" -c tests/constraints/lowest.txt ;;
  esac
  "$venv/bin/python" -m pip list 2>/dev/null | grep -iE "^(pip|torch|torch.xla|transformers|tokenizers|safetensors|pytorch-lightning|torchmetrics|huggingface.hub|numpy|pandas|matplotlib|ipython|ipywidgets|ipykernel|jupyter.client|nbval) " || true
fi
[ "$phase" = setup ] && exit 0
# One torch thread per process: on 2 cores a busy kernel otherwise slows training ~50x.
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false NLPBOOK_SMOKE=1
export NLPBOOK_WORK_DIR=${NLPBOOK_WORK_DIR:-$(mktemp -d)}
# The browser tests run in the default profile only (there, a missing browser fails under CI=true).
only=()
[ "$profile" = default ] || only=(-m "not browser")
if [ $# -gt 0 ]; then
  "$venv/bin/python" -m pytest -p no:cacheprovider "${only[@]}" "$@"
else
  # nbval executes every notebook once, each alone on a fresh work dir (conftest.py), in this profile's kernel
  "$venv/bin/python" -m pytest tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
    -p no:cacheprovider --durations=10 "${only[@]}"
fi
