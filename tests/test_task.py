"""The training system: dropout really on, the schedule really stepping, metrics really logged."""

import pytorch_lightning as pl
import pytest
import torch
from pytorch_lightning.callbacks import Callback

from nlpbook_helpers.corpus import load_corpus
from nlpbook_helpers.features import encode_pairs, load_tokenizer, make_loaders
from nlpbook_helpers.model import CPU_ATTENTION, CpuDropout, load_model
from nlpbook_helpers.sample import SAMPLE_DATA_DIR
from nlpbook_helpers.task import NliTask


class Spy(Callback):
    def __init__(self):
        self.lrs, self.training_flags = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])
        self.training_flags.append({m.training for m in pl_module.model.modules() if isinstance(m, torch.nn.Dropout)})


def fit(model_dir, schedule, steps=20):
    pl.seed_everything(0, verbose=False)
    tokenizer = load_tokenizer(str(model_dir))
    train, dev = load_corpus(SAMPLE_DATA_DIR)
    train_set = encode_pairs(tokenizer, train, 64)
    dev_set = encode_pairs(tokenizer, dev[:16], 64)
    train_loader, dev_loader = make_loaders(train_set, dev_set, 16, tokenizer.pad_token_id)
    spy = Spy()
    trainer = pl.Trainer(accelerator="cpu", max_steps=steps, callbacks=[spy], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    task = NliTask(load_model(str(model_dir)), learning_rate=1e-3, schedule=schedule)
    trainer.fit(task, train_loader, dev_loader)
    return spy, trainer


def test_dropout_is_active_while_training(tiny_bert):
    # from_pretrained hands back an eval-mode model; Lightning 2 would keep it that way.
    assert not load_model(str(tiny_bert)).training
    spy, trainer = fit(tiny_bert, "recommended", steps=5)
    assert spy.training_flags and all(flags == {True} for flags in spy.training_flags)
    # on a CPU every dropout layer is the cheaper CpuDropout, with the model's own rates
    dropouts = [m for m in trainer.lightning_module.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(type(m) is CpuDropout for m in dropouts) and {m.p for m in dropouts} == {0.3, 0.1}
    assert trainer.lightning_module.model.config._attn_implementation == CPU_ATTENTION


def test_recommended_schedule_warms_up_then_decays(tiny_bert):
    spy, trainer = fit(tiny_bert, "recommended", steps=20)
    total = trainer.estimated_stepping_batches  # max_steps: 20, so 2 warmup steps
    assert total == 20
    assert spy.lrs[0] == 0.0 and spy.lrs[1] == pytest.approx(0.5e-3) and spy.lrs[2] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(spy.lrs[2:], spy.lrs[3:]))  # then strictly decreasing
    assert spy.lrs[-1] == pytest.approx(1e-3 * 1 / 18)


def test_faithful_schedule_is_the_books_constant_lr_adamw(tiny_bert):
    spy, trainer = fit(tiny_bert, "faithful", steps=6)
    assert spy.lrs == [1e-3] * 6
    optimizer = trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["eps"] == 1e-6 and optimizer.defaults["weight_decay"] == 0.0
    assert not trainer.lr_scheduler_configs


def test_validation_logs_loss_accuracy_and_macro_f1(tiny_bert):
    _, trainer = fit(tiny_bert, "recommended", steps=23)
    metrics = trainer.callback_metrics
    assert {"val_loss", "val_acc", "val_f1", "train_loss_step", "train_acc_step"} <= set(metrics)
    assert 0.0 <= float(metrics["val_acc"]) <= 1.0
