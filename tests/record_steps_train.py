"""Test harness: train the sample through pipeline.train, writing one JSON line before every optimizer step.

    python tests/record_steps_train.py WORK_DIR LOG_FILE

Each line holds the step, the learning rate the optimizer is about to use
and, per parameter, the optimizer's state (AdamW's step count and the sums of
its two moments) and what the batch holds, so test_resume.py can compare a killed-and-resumed run
with an uninterrupted one. Only the tests use this file.
"""

import json
import sys

import pytorch_lightning as pl

from nlpbook_helpers.pipeline import train
from nlpbook_helpers.sample import sample_settings

EPOCHS, CHECKPOINT_EVERY = 3, 10  # 10 does not divide the 23 steps of an epoch: resumes land mid-epoch


class RecordSteps(pl.Callback):
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        optimizer = trainer.optimizers[0]
        state = [optimizer.state.get(p, {}) for group in optimizer.param_groups for p in group["params"]]
        moments = [[float(s["step"]), s["exp_avg"].double().sum().item(), s["exp_avg_sq"].double().sum().item()]
                   for s in state if s]
        line = {"step": trainer.global_step, "lr": optimizer.param_groups[0]["lr"], "state": moments,
                "batch": batch["input_ids"].sum().item(), "labels": batch["labels"].tolist()}
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()


if __name__ == "__main__":
    work_dir, log_file = sys.argv[1:3]
    train(sample_settings(work_dir, epochs=EPOCHS, checkpoint_every_n_steps=CHECKPOINT_EVERY),
          callbacks=[RecordSteps(log_file)])
