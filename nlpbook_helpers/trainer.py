"""The Lightning Trainer, the checkpoints that survive a disconnect, and the whole run (book: code 3-13, 3-14).

What is written to the output dir (on Drive in Colab):
- checkpoints/last.ckpt: everything needed to resume (weights, optimizer,
  schedule, step, RNG states, the metrics so far), every N optimizer steps
  and at each epoch end, written to a temporary file and renamed, so a kill
  during the write leaves the previous one intact.

Resuming in the middle of an epoch: optimizer, schedule, step count and
metrics continue exactly. The interrupted epoch runs only the batches it had
left (say 16 of 23), but the loader cannot remember its position, so those
batches are drawn from a fresh shuffle of the whole training set: in that
one epoch some pairs are seen twice and others not at all. Every later epoch
is a normal full pass.
- best/: the best epoch's model and tokenizer from `save_pretrained`
  (safetensors, ~0.4 GB for kcbert-base instead of the book's 1.3 GB
  Lightning checkpoint). "Best" means highest val_acc: accuracy is KLUE-NLI's
  official metric, and val_loss can rise while accuracy still improves.
- metrics.json: val_loss, val_acc and macro-F1 for every epoch, and best_epoch.

Only these are kept, so a run never fills a learner's Drive.
"""

import json
import math
import os
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Callback, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger

from .errors import NlpbookError
from .runtime import Runtime, get_logger

MONITOR = "val_acc"


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to `<name>.part`, fsync, then rename over the old file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        with open(part, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(part, path)


class LastCheckpoint(Callback):
    """Keep checkpoints/last.ckpt fresh: every `every_n_steps` optimizer steps and at each epoch end."""

    def __init__(self, path: Path, every_n_steps: int):
        self.path = Path(path)
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every_n_steps == 0 or trainer.global_step == trainer.max_steps:
            self.save(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        # Only after a whole epoch: when max_steps stops one midway, Lightning still calls this hook,
        # and a checkpoint written here would mark the unfinished epoch as done.
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self.save(trainer, pl_module)

    def state_dict(self):
        """Lightning's checkpoint has no random-number states; we add them so dropout and shuffling continue the same way."""
        kind, keys, position, has_gauss, gauss = np.random.get_state()
        numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss)  # loadable with weights_only
        states = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            states["cuda"] = torch.cuda.get_rng_state_all()
        return states

    def load_state_dict(self, state_dict):
        random.setstate(state_dict["python"])
        kind, keys, position, has_gauss, gauss = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])

    def save(self, trainer, pl_module):
        if trainer.is_global_zero:
            # weights + two AdamW moments, plus room for the temporary copy
            needed = 4 * sum(p.numel() * p.element_size() for p in pl_module.parameters())
            ensure_free_space(self.path.parent, needed)
        trainer.save_checkpoint(self.path, weights_only=False)


class BestModelExport(Callback):
    """After each validation: record the metrics, and export the model when val_acc improves."""

    def __init__(self, output_dir: Path, tokenizer, max_seq_length: int):
        self.output_dir = Path(output_dir)
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.history: list[dict] = []

    def state_dict(self):
        return {"history": self.history}

    def load_state_dict(self, state_dict):
        self.history = state_dict["history"]

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        row = {
            # the epoch the last step belongs to: after max_steps stops mid-epoch, current_epoch has already moved on
            "epoch": math.ceil(trainer.global_step / trainer.num_training_batches),
            "step": trainer.global_step,
            "val_loss": round(float(metrics["val_loss"]), 6),
            "val_acc": round(float(metrics["val_acc"]), 6),
            "macro_f1": round(float(metrics["val_f1"]), 6),
        }
        improved = all(row[MONITOR] > old[MONITOR] for old in self.history)
        self.history = [old for old in self.history if old["epoch"] != row["epoch"]] + [row]
        if trainer.is_global_zero:
            if improved:
                self.export(pl_module.model, row)
            write_json_atomic(self.output_dir / "metrics.json", self.summary())
            get_logger().info(
                f"epoch {row['epoch']}: val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.4f} "
                f"macro_f1 {row['macro_f1']:.4f}" + ("  (best so far, saved to best/)" if improved else "")
            )

    def summary(self) -> dict:
        best = max(self.history, key=lambda row: row[MONITOR])
        return {"epochs": self.history, "best_epoch": best["epoch"], "monitor": MONITOR}

    def export(self, model, row):
        best, part = self.output_dir / "best", self.output_dir / "best.part"
        shutil.rmtree(part, ignore_errors=True)
        model.save_pretrained(part)
        self.tokenizer.save_pretrained(part)
        write_json_atomic(part / "nlpbook.json", {"max_seq_length": self.max_seq_length, **row})
        replace_dir(part, best)


def replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place; a kill at any moment leaves one complete copy."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def restore_interrupted_export(output_dir: Path) -> None:
    """If a kill fell between the two renames of replace_dir, put the previous best back."""
    best, old = Path(output_dir) / "best", Path(output_dir) / "best.old"
    if old.exists() and not best.exists():
        os.replace(old, best)


def write_json_atomic(path: Path, data) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(part, path)


def ensure_free_space(folder: Path, needed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise NlpbookError(
            f"{folder}에 공간이 부족합니다: 체크포인트에 {needed / 2**30:.1f} GB가 필요한데 {free / 2**30:.1f} GB만 남았습니다. Drive에서 파일을 지우세요.",
            f"Not enough space in {folder}: a checkpoint needs {needed / 2**30:.1f} GB, only {free / 2**30:.1f} GB is free. Free some space on Drive.",
        )


def resume_checkpoint(output_dir: str | Path) -> Path | None:
    """checkpoints/last.ckpt if there is one to resume from; a damaged one is reported, never loaded."""
    path = Path(output_dir) / "checkpoints" / "last.ckpt"
    if not path.exists():
        return None
    try:
        torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # a truncated zip, a bad pickle, an empty file: all mean "damaged"
        raise NlpbookError(
            f"체크포인트 {path}가 손상되었습니다({type(error).__name__}). 그 파일을 지우면 처음부터 다시 학습합니다.",
            f"The checkpoint {path} is damaged ({type(error).__name__}); delete it to train from the start.",
        ) from error
    return path


def build_trainer(settings, runtime: Runtime, precision: str, tokenizer) -> pl.Trainer:
    """A Trainer for this runtime, with our two callbacks and atomic checkpoint writes (book: code 3-13)."""
    output_dir = Path(settings.output_dir)
    restore_interrupted_export(output_dir)
    # CPU kernels are already deterministic; forcing deterministic algorithms there only cost ~10%.
    # On a GPU, "warn" picks deterministic kernels where asking is enough and warns about the rest: memory-efficient
    # attention's backward stays non-deterministic (seen on an H200), so GPU metrics can differ in the last digits.
    deterministic = {"cpu": None, "gpu": "warn", "tpu": False}[runtime.accelerator]
    distributed = settings.devices * settings.num_nodes > 1
    if distributed and (hasattr(sys, "ps1") or sys.flags.interactive):  # Lightning's own test for a notebook
        raise NlpbookError(
            f"devices={settings.devices}, num_nodes={settings.num_nodes}: 여러 프로세스 학습(DDP)은 노트북 셀 안에서는 "
            "돌릴 수 없습니다. 명령줄에서 `python -m nlpbook_helpers train --devices N ...`으로 실행하세요.",
            f"devices={settings.devices}, num_nodes={settings.num_nodes}: multi-process training (DDP) cannot run "
            "inside a notebook; run `python -m nlpbook_helpers train --devices N ...` from the command line.",
        )
    return pl.Trainer(
        accelerator=runtime.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,  # the processes of other machines are started by the cluster, not here
        strategy="ddp" if distributed else "auto",
        precision=precision,
        max_epochs=settings.epochs,
        max_steps=settings.max_steps,
        callbacks=[
            LastCheckpoint(output_dir / "checkpoints" / "last.ckpt", settings.checkpoint_every_n_steps),
            BestModelExport(output_dir, tokenizer, settings.max_seq_length),
            TQDMProgressBar(refresh_rate=10),  # tqdm: widget bars in notebooks, text bars in a terminal
        ],
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False,  # LastCheckpoint and BestModelExport replace ModelCheckpoint
        logger=CSVLogger(output_dir, name="logs"),
        log_every_n_steps=10,
        deterministic=deterministic,
        default_root_dir=output_dir,
        enable_model_summary=False,
    )
