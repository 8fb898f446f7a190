"""The training system: dropout really on, the schedule really stepping, metrics really logged."""

import csv

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from nlpbook_helpers.model import load_model
from nlpbook_helpers.pipeline import fit as pipeline_fit
from nlpbook_helpers.pipeline import prepare_run
from nlpbook_helpers.sample import sample_settings


class Spy(Callback):
    def __init__(self):
        self.lrs, self.training_flags, self.losses = [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])
        self.training_flags.append({m.training for m in pl_module.model.modules() if isinstance(m, torch.nn.Dropout)})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def fit(work_dir, schedule, steps=20):
    settings = sample_settings(work_dir, learning_rate=1e-3, schedule=schedule, max_steps=steps, seed=0)
    run, spy = prepare_run(settings), Spy()
    pipeline_fit(run, callbacks=[spy])
    return spy, run.trainer


def test_dropout_is_active_while_training(tiny_bert, tmp_path):
    # from_pretrained hands back an eval-mode model; Lightning 2 would keep it that way.
    assert not load_model(str(tiny_bert)).training
    spy, trainer = fit(tmp_path, "recommended", steps=5)
    assert spy.training_flags and all(flags == {True} for flags in spy.training_flags)
    # the stock modules a Colab GPU trains with: nn.Dropout at the model's own rates, PyTorch's SDPA attention
    dropouts = [m for m in trainer.lightning_module.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(type(m) is torch.nn.Dropout for m in dropouts) and {m.p for m in dropouts} == {0.3, 0.1}
    assert trainer.lightning_module.model.config._attn_implementation == "sdpa"


def test_recommended_schedule_warms_up_then_decays(tmp_path):
    spy, trainer = fit(tmp_path, "recommended", steps=20)
    assert len(spy.lrs) == 20  # max_steps: 20, so 2 warmup steps
    assert spy.lrs[0] == 0.0 and spy.lrs[1] == pytest.approx(0.5e-3) and spy.lrs[2] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(spy.lrs[2:], spy.lrs[3:]))  # then strictly decreasing
    assert spy.lrs[-1] == pytest.approx(1e-3 * 1 / 18)


def test_faithful_schedule_is_the_books_constant_lr_adamw(tmp_path):
    spy, trainer = fit(tmp_path, "faithful", steps=6)
    assert spy.lrs == [1e-3] * 6
    optimizer = trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["eps"] == 1e-6 and optimizer.defaults["weight_decay"] == 0.0
    assert not trainer.lr_scheduler_configs


def test_validation_logs_loss_accuracy_and_macro_f1(tmp_path):
    _, trainer = fit(tmp_path, "recommended", steps=23)
    metrics = trainer.callback_metrics
    assert {"val_loss", "val_acc", "val_f1", "train_loss", "train_acc"} <= set(metrics)
    assert 0.0 <= float(metrics["val_acc"]) <= 1.0


def test_logged_training_values_are_those_of_the_step_they_are_written_for(tmp_path):
    # training_step logs only on the steps the logger writes; a value from another step would be a stale one
    spy, trainer = fit(tmp_path, "recommended", steps=50)
    with open(next((tmp_path / "runs" / "sample" / "logs").glob("version_*/metrics.csv")), newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["train_loss"]]
    assert [int(row["step"]) for row in rows] == [9, 19, 29, 39, 49]  # log_every_n_steps=10
    for row in rows:
        step = int(row["step"])
        assert float(row["train_loss"]) == pytest.approx(spy.losses[step], rel=1e-6)
        assert float(row["lr"]) == pytest.approx(spy.lrs[step], rel=1e-6)
        assert 0.0 <= float(row["train_acc"]) <= 1.0
