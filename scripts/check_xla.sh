#!/usr/bin/env bash
# The TPU code path without a TPU: torch 2.9 + torch_xla 2.9 (Colab TPU's versions) on
# XLA's CPU device. Runs a few training steps of the real pipeline in smoke mode with
# fixed-length padding and bf16-true, as on a Colab TPU v5e-1.
# Heavy (torch 2.9 from PyPI is a multi-GB CUDA build), so it is not part of .ci/run.
#   bash scripts/check_xla.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-xla}
python=${PYTHON:-python3.11}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install "torch==2.9.1" "torch_xla==2.9.0"
pip install -e .
export PJRT_DEVICE=CPU OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
work=$(mktemp -d)
"$venv/bin/python" - "$work" <<'PY'
import sys

import torch
import torch_xla
import transformers

from nlpbook_helpers.corpus import load_corpus
from nlpbook_helpers.features import PairDataset, encode_pairs, load_tokenizer, make_loaders
from nlpbook_helpers.model import load_model
from nlpbook_helpers.sample import SAMPLE_DATA_DIR, sample_settings
from nlpbook_helpers.task import NliTask

transformers.logging.set_verbosity_error()
print("torch", torch.__version__, "torch_xla", torch_xla.__version__, "device", torch_xla.device())
settings = sample_settings(sys.argv[1])
tokenizer = load_tokenizer(settings.model_name)
train, dev = load_corpus(SAMPLE_DATA_DIR)
train_set, dev_set = (PairDataset.from_features(encode_pairs(tokenizer, split, settings.max_seq_length)) for split in (train, dev))
train_loader, _ = make_loaders(train_set, dev_set, settings.batch_size, tokenizer.pad_token_id,
                               fixed_length=settings.max_seq_length)  # the TPU path: one shape for every batch

# 1. Our LightningModule's step on the XLA device, in bf16 as Lightning's "bf16-true" would run it.
device = torch_xla.device()
task = NliTask(load_model(settings.model_name), settings.learning_rate, "faithful").to(device).to(torch.bfloat16)
optimizer = torch.optim.AdamW(task.parameters(), lr=settings.learning_rate, eps=1e-6, weight_decay=0.0)
shapes, losses = set(), []
for step, batch in zip(range(8), train_loader):
    shapes.add(tuple(batch["input_ids"].shape))
    batch = {k: v.to(device) for k, v in batch.items()}
    loss = task.model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    torch_xla.sync()  # cut the lazy graph here: one compiled step
    losses.append(round(loss.item(), 4))
print("manual XLA steps: batch shapes", shapes, "losses", losses)
assert len(shapes) == 1 and all(l == l for l in losses)

# 2. The same through Lightning's own TPU accelerator, as far as it goes on a CPU-backed XLA device.
import pytorch_lightning as pl
try:
    trainer = pl.Trainer(accelerator="tpu", devices=1, precision="bf16-true", max_steps=4, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, num_sanity_val_steps=0)
    trainer.fit(NliTask(load_model(settings.model_name), settings.learning_rate), train_loader)
    print("Lightning TPU accelerator: trained", trainer.global_step, "steps")
except Exception as error:
    print(f"Lightning TPU accelerator stops here on an XLA CPU device: {type(error).__name__}: {str(error)[:300]}")
PY
