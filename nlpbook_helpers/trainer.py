"""The Lightning Trainer, the checkpoints that survive a disconnect, and the whole run (book: code 3-13, 3-14).

What is written to the output dir (on Drive in Colab):
- checkpoints/last.ckpt: everything needed to resume (weights, optimizer,
  schedule, step, each process's RNG states, the metrics so far, and the
  settings that define the run), every N optimizer steps and at each epoch
  end. It is written to last.ckpt.part and fsynced; only then is the old
  last.ckpt emptied and the new one renamed into its place. A kill at any
  instant leaves a loadable checkpoint: the old one, or a complete .part
  that check_resume puts in place.

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

Only these are kept, and every file replaced or deleted is emptied first
(drive_files), so a run never fills a learner's Drive or its Trash.
A rerun continues only the same run: resume.check_resume refuses a last.ckpt that
was written with other settings (a larger `epochs` is allowed).
"""

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
from lightning_fabric.plugins.io.xla import XLACheckpointIO
from lightning_utilities.core.apply_func import apply_to_collection
from pytorch_lightning.callbacks import Callback, TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger

from .drive_files import remove_tree, replace_file, write_json
from .errors import NlpbookError
from .model_card import ModelCardWriter
from .features import process_rank
from .library_errors import explain_library_error
from .resume import RUN_KEY, run_fingerprint
from .runtime import Runtime, get_logger

MONITOR = "val_acc"


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to `<name>.part`, fsync, empty the old file, then rename (see drive_files)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        with open(part, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        replace_file(part, path)


class AtomicXLACheckpointIO(AtomicCheckpointIO, XLACheckpointIO):
    """The same on a TPU, where Lightning takes only an XLACheckpointIO; the tensors are copied to the CPU first."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        super().save_checkpoint(apply_to_collection(checkpoint, torch.Tensor, torch.Tensor.cpu), path, storage_options)


class LastCheckpoint(Callback):
    """Keep checkpoints/last.ckpt fresh: every `every_n_steps` optimizer steps and at each epoch end.

    Each checkpoint also carries `run` (see run_fingerprint) so that a rerun
    can tell whether it continues the same run.
    """

    def __init__(self, path: Path, every_n_steps: int, run: dict):
        self.path = Path(path)
        self.every_n_steps = every_n_steps
        self.run = run

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step % self.every_n_steps == 0 or trainer.global_step == trainer.max_steps:
            self.save(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        # Only after a whole epoch: when max_steps stops one midway, Lightning still calls this hook,
        # and a checkpoint written here would mark the unfinished epoch as done.
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self.save(trainer, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint[RUN_KEY] = self.run

    def state_dict(self):
        """Lightning's checkpoint has no random-number states; we add each process's, so dropout and shuffling
        continue the same way on every GPU. (Lightning calls this in every process; the checkpoint is written by one.)"""
        _, world_size = process_rank()
        every_rank = [rng_states()]
        if world_size > 1:
            every_rank = [None] * world_size
            torch.distributed.all_gather_object(every_rank, rng_states())
        return {"rng_per_rank": every_rank}

    def load_state_dict(self, state_dict):
        rank, _ = process_rank()
        set_rng_states(state_dict["rng_per_rank"][rank])

    def save(self, trainer, pl_module):
        if trainer.is_global_zero:
            # weights + two AdamW moments, plus room for the temporary copy
            needed = 4 * sum(p.numel() * p.element_size() for p in pl_module.parameters())
            ensure_free_space(self.path.parent, needed)
        trainer.save_checkpoint(self.path, weights_only=False)


def rng_states() -> dict:
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss)  # loadable with weights_only
    states = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ExplainLibraryErrors(Callback):
    """An error raised inside transformers, Lightning, ... gets a note: which library, which version, what to pin."""

    def on_exception(self, trainer, pl_module, exception):
        explain_library_error(exception)


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
            write_json(self.output_dir / "metrics.json", self.summary())
            get_logger().info(
                f"epoch {row['epoch']}: val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.4f} "
                f"macro_f1 {row['macro_f1']:.4f}" + ("  (best so far, saved to best/)" if improved else "")
            )

    def summary(self) -> dict:
        best = max(self.history, key=lambda row: row[MONITOR])
        return {"epochs": self.history, "best_epoch": best["epoch"], "monitor": MONITOR}

    def export(self, model, row):
        best, part = self.output_dir / "best", self.output_dir / "best.part"
        remove_tree(part)
        # safetensors writes from CPU memory; on a TPU the weights live on the XLA device
        model.save_pretrained(part, state_dict={name: tensor.cpu() for name, tensor in model.state_dict().items()})
        self.tokenizer.save_pretrained(part)
        write_json(part / "nlpbook.json", {"max_seq_length": self.max_seq_length, **row})
        replace_dir(part, best)


def replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place; a kill at any moment leaves one complete copy.

    The old folder is moved aside whole and emptied only once the new one is in place.
    """
    old = final.with_name(final.name + ".old")
    remove_tree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    remove_tree(old)


def restore_interrupted_export(output_dir: Path) -> None:
    """If a kill fell between the two renames of replace_dir, put the previous best back."""
    best, old = Path(output_dir) / "best", Path(output_dir) / "best.old"
    if old.exists() and not best.exists():
        os.replace(old, best)


def ensure_free_space(folder: Path, needed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise NlpbookError(
            f"{folder}에 공간이 부족합니다: 체크포인트에 {needed / 2**30:.1f} GB가 필요한데 {free / 2**30:.1f} GB만 남았습니다. Drive에서 파일을 지우세요.",
            f"Not enough space in {folder}: a checkpoint needs {needed / 2**30:.1f} GB, only {free / 2**30:.1f} GB is free. Free some space on Drive.",
        )


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
        # LengthGroupedSampler deals whole batches to the GPUs itself; Lightning's wrapper would cut them apart.
        use_distributed_sampler=not settings.length_grouped,
        precision=precision,
        max_epochs=settings.epochs,
        max_steps=settings.max_steps,
        callbacks=[
            LastCheckpoint(output_dir / "checkpoints" / "last.ckpt", settings.checkpoint_every_n_steps,
                           run_fingerprint(settings, precision)),
            BestModelExport(output_dir, tokenizer, settings.max_seq_length),
            ModelCardWriter(settings),  # best/README.md from metrics.json, after BestModelExport (model_card.py)
            TQDMProgressBar(refresh_rate=10),  # tqdm: widget bars in notebooks, text bars in a terminal
            ExplainLibraryErrors(),
        ],
        plugins=[AtomicXLACheckpointIO() if runtime.accelerator == "tpu" else AtomicCheckpointIO()],
        enable_checkpointing=False,  # LastCheckpoint and BestModelExport replace ModelCheckpoint
        logger=CSVLogger(output_dir, name="logs"),
        log_every_n_steps=10,
        deterministic=deterministic,
        default_root_dir=output_dir,
        enable_model_summary=False,
    )
