#!/usr/bin/env bash
# Everything this project measures on a lent GPU, in one call of under 10 minutes
# (device time is scarce: run this once, read the results, give the machine back).
#   bash benchmarks/gpu_session.sh [RESULTS_DIR]     # default: ./gpu-results
# Needs torch, transformers, pytorch-lightning, torchmetrics, tokenizers and safetensors
# already installed (the package itself is imported from this checkout).
set -uo pipefail
out=$(realpath -m "${1:-gpu-results}")
mkdir -p "$out"
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/..${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, transformers, pytorch_lightning as pl; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version(), 'transformers', transformers.__version__, 'lightning', pl.__version__)" | tee -a "$out/gpu.txt"
# 1. Bare training loops: the original recipe, ours eager, ours compiled (~3.5 minutes).
timeout 240 python3 gpu_throughput.py > "$out/gpu_throughput.txt" 2>&1
grep -v -i -e warn -e softmax -e "^$" "$out/gpu_throughput.txt" | tail -n 8
# 2. The whole course run through pipeline.train: 5 epochs, validation and exports included.
timeout 300 python3 course_run.py --json "$out/course_run.json" > "$out/course_run.txt" 2>&1
grep -a -e "wall time" -e "samples/s" -e "val_acc per epoch" "$out/course_run.txt" || tail -c 1500 "$out/course_run.txt"
