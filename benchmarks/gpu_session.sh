#!/usr/bin/env bash
# Everything this project measures on a lent GPU, in one call of under 8 minutes (each step has a time cap:
# 200 + 150 + 130 s of benchmarks, expected ~6 minutes in all). Run it once, read the results, give the machine back.
#   bash benchmarks/gpu_session.sh RESULTS_DIR
#
# 1. course_run.py: the learner's 5-epoch run through the pipeline (target: at most 2.5 min wall on an H200,
#    compile time, validation and exports included), with the time of each last.ckpt write.
# 2. overhead.py: the same model and batches in a bare loop, through a minimal LightningModule and through the
#    pipeline (target: pipeline at most 1.15x bare), host-device syncs per step, and a torch.profiler table of
#    20 pipeline steps (overhead-profile.txt). One round: a dedicated GPU does not drift like the shared CPU VM.
# 3. gpu_throughput.py: bare loops of the original recipe, ours eager and ours compiled (MFU, peak memory).
#
# Needs python3 with torch (CUDA), transformers 5, pytorch-lightning 2, torchmetrics, tokenizers, safetensors,
# numpy and tqdm; the package itself is imported from this checkout. The device machine's image (H200, 2026-11:
# torch 2.11.0, transformers 5.17.0, pytorch-lightning 2.6.6, torchmetrics 1.9.0, tokenizers 0.23.2,
# safetensors 0.8.0) has all of them, so nothing needs to be carried. On a machine that lacks one, carry it as a
# wheel (.whl, see the device README) and install it before running this script.
# Without a CUDA GPU it stops at once: the CPU paths are checked with the scripts' own small options
# (course_run.py --shape small --max-steps 30, gpu_throughput.py --cpu-smoke, overhead.py).
set -uo pipefail
if [ $# -ne 1 ]; then
    echo "usage: bash benchmarks/gpu_session.sh RESULTS_DIR" >&2
    exit 2
fi
out=$(realpath -m "$1")
mkdir -p "$out" || exit 2
cd "$(dirname "$0")" || exit 2
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD/..${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_session.sh: no CUDA GPU here (or no torch): nothing measured. See the header for the CPU checks." >&2
    exit 3
fi
work=/tmp/nlpbook-gpu-session  # workload (corpus, vocab, model) written once, shared by steps 1 and 2
started=$SECONDS
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -c "import torch, transformers, pytorch_lightning as pl, torchmetrics; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version(), 'transformers', transformers.__version__, 'lightning', pl.__version__, 'torchmetrics', torchmetrics.__version__)"
} 2>&1 | tee "$out/versions.txt"
status=0
step() {  # step NAME SECONDS COMMAND...: run with a time cap, log to NAME.txt, note a failure and go on
    local name=$1 cap=$2
    shift 2
    echo "== $name (cap ${cap} s, at $((SECONDS - started)) s)"
    timeout "$cap" "$@" > "$out/$name.txt" 2>&1
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "!! $name exited with $rc (124: over its cap); last lines:"
        tail -n 15 "$out/$name.txt"
        status=1
    fi
}
step course_run 200 python3 course_run.py --work-dir "$work" --json "$out/course_run.json"
grep -a -e "wall time" -e "ms/step" -e "compiled=" -e "val_acc per epoch" "$out/course_run.txt"
step overhead 150 python3 overhead.py --rounds 1 --work-dir "$work" --json "$out/overhead.json" \
    --profile "$out/overhead-profile.txt"
grep -a -e "^bare" -e "^lightning" -e "^pipeline" -e "^added" -e "of which" -e "host waits" -e "pipeline steps:" \
    "$out/overhead.txt"
step gpu_throughput 130 python3 gpu_throughput.py --steps 40
grep -a -v -i -e warn -e softmax -e "^$" "$out/gpu_throughput.txt" | tail -n 8
echo "total $((SECONDS - started)) s; results in $out"
exit $status
