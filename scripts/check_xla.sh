#!/usr/bin/env bash
# The TPU code path without a TPU: Colab TPU's Python 3.13, torch 2.9.0 and torch_xla 2.9.0
# (from PyPI: torch is the CUDA build, run here on the CPU) with XLA's CPU device.
# scripts/check_xla.py trains the real pipeline in smoke mode and compares the precisions.
#   bash scripts/check_xla.sh [colab|newest|both]
#     colab   the Colab TPU image's versions (tests/constraints/colab-tpu.txt: libtpu, transformers,
#             tokenizers, huggingface_hub, numpy): the learner's TPU runtime
#     newest  the newest versions our ranges allow on the same torch and torch_xla: an upstream
#             release that breaks the TPU path shows here before Colab ships it
#     both    (default) one after the other
# torch, torch_xla and libtpu sit in one base environment (.venv-xla-base) that both runs see as their
# system site-packages (scripts/setup_env.sh's BASE_VENV): the second run adds ~0.3 GB, not ~5 GB.
# No layer's name may be the start of the base's: pip takes a package as its own to uninstall when its
# path starts with the environment's prefix, so a layer named .venv-xla upgraded numpy by deleting it from
# .venv-xla-base, and the colab run then found none (seen in a fresh .ci/run).
# CI_PHASE=setup only installs, CI_PHASE=test only runs the check.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
case "$which" in
  colab) runs=(colab) ;;
  newest) runs=(newest) ;;
  both) runs=(colab newest) ;;
  *) echo "unknown run: $which (colab, newest or both)" >&2; exit 2 ;;
esac
base=.venv-xla-base
if [ "${CI_PHASE:-all}" != test ]; then
  bash scripts/setup_env.sh "$base" 3.13 2.9.0 "torch_xla==2.9.0" "libtpu==0.0.21.1" -c tests/constraints/colab-tpu.txt
  for run in "${runs[@]}"; do
    if [ "$run" = colab ]; then
      BASE_VENV=$base bash scripts/setup_env.sh .venv-xla-colab 3.13 2.9.0 -e . -c tests/constraints/colab-tpu.txt
    else
      # eager: numpy and the rest move up from the base's (Colab's) versions to the newest allowed
      BASE_VENV=$base bash scripts/setup_env.sh .venv-xla-newest 3.13 2.9.0 --upgrade --upgrade-strategy eager -e .
    fi
  done
fi
[ "${CI_PHASE:-all}" = setup ] && exit 0
export PJRT_DEVICE=CPU OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
for run in "${runs[@]}"; do
  venv=$([ "$run" = colab ] && echo .venv-xla-colab || echo .venv-xla-newest)
  echo "== XLA check, $run: $("$venv/bin/python" -m pip list 2>/dev/null | grep -iE "^(torch|torch.xla|libtpu|transformers|tokenizers|huggingface.hub|numpy|pytorch-lightning) " | tr -s ' ' | paste -sd, -)"
  "$venv/bin/python" scripts/check_xla.py "$(mktemp -d)"
done
