#!/usr/bin/env bash
# The main job on a fresh machine, offline, on CPU: set up, train on the bundled
# sample with a tiny model, evaluate it, and label two pairs.
# The environment is .venv (Python 3.11, torch 2.13.0), which scripts/test.sh reuses.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh .venv 3.11 2.13.0 -e .
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
py=.venv/bin/python
$py -m nlpbook_helpers train --sample --work-dir nlpbook-work
$py -m nlpbook_helpers evaluate --model-dir nlpbook-work/runs/sample/best \
    --data-dir nlpbook_helpers/data --output nlpbook-work/runs/sample/evaluation.json
$py -m nlpbook_helpers predict --model-dir nlpbook-work/runs/sample/best \
    "정부는 내년부터 청년 월세 지원을 확대한다고 밝혔다." "청년 월세 지원은 확대되지 않는다."
