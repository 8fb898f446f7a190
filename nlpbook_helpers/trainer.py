"""The Lightning Trainer (book: code 3-13), with callbacks keeping last.ckpt, metrics.json and best/ so a disconnected
runtime continues: trainer.fit(..., ckpt_path=resume_checkpoint(...)) is code 3-14. 07's fit cell imports from here.
"""

import sys
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger

from .run.best_model import BestModelExport
from .run.checkpoints import (AtomicCheckpointIO, AtomicXLACheckpointIO, LastCheckpoint, ProgressBar, RandomStates,
                              StopOnNaN, resume_checkpoint, run_fingerprint)
from .run.rerun import KernelGuard, check_fresh
from .run.run_lock import RunLock
from .runtime import Runtime
from .support.errors import NlpbookError
from .support.library_errors import explain_library_error

__all__ = ["build_trainer", "check_fresh", "resume_checkpoint"]  # what 07's fit cell imports from here


class ExplainLibraryErrors(pl.Callback):
    """Under any error in a fit (a notebook's too): which library release raised it, and a pin that undoes it."""

    def __init__(self, settings):
        self.settings = settings  # its batch_size and max_seq_length are named when the GPU runs out of memory

    def on_exception(self, trainer, pl_module, exception):
        explain_library_error(exception, self.settings)


def build_trainer(settings, runtime: Runtime, precision: str, tokenizer) -> pl.Trainer:
    """A Trainer for this runtime, with our callbacks and atomic checkpoint writes (book: code 3-13)."""
    output_dir = Path(settings.output_dir)
    distributed = settings.devices * settings.num_nodes > 1
    if distributed and (hasattr(sys, "ps1") or sys.flags.interactive):  # Lightning's own test for a notebook
        raise NlpbookError(
            f"devices={settings.devices}, num_nodes={settings.num_nodes}: 여러 프로세스 학습(DDP)은 노트북 셀에서 돌릴 수 "
            "없으니 명령줄에서 `python -m nlpbook_helpers train --devices N ...`으로 실행하세요.",
            f"devices={settings.devices}, num_nodes={settings.num_nodes}: multi-process training (DDP) cannot run "
            "inside a notebook; run `python -m nlpbook_helpers train --devices N ...` from the command line.")
    device = f"{runtime.device_name} ({precision})"
    last_checkpoint = LastCheckpoint(output_dir, settings.checkpoint_every_n_steps,
                                     {"settings": run_fingerprint(settings), "precision": precision, "device": device})
    return pl.Trainer(
        accelerator=runtime.accelerator, devices=settings.devices,
        num_nodes=settings.num_nodes,  # the processes of other machines are started by the cluster, not here
        strategy="ddp" if distributed else "auto",
        use_distributed_sampler=False,  # our samplers deal whole batches to the GPUs (see run/sampling.py)
        precision=precision,
        max_epochs=settings.epochs, max_steps=settings.max_steps,
        callbacks=[
            BestModelExport(settings, tokenizer),  # metrics.json, best/ and its card (run/best_model.py)
            last_checkpoint,  # checkpoints/last.ckpt: a ModelCheckpoint, so Lightning runs it after the others
            RandomStates(),  # each process's random states, kept in last.ckpt
            StopOnNaN(),  # a loss that is no number stops the run, before it is saved
            RunLock(output_dir),  # one run per output dir (run/run_lock.py)
            KernelGuard(settings, last_checkpoint),  # a fit cell run again in the same kernel (run/rerun.py)
            ProgressBar(refresh_rate=10),  # Lightning's tqdm bar: widgets in notebooks, text in a terminal
            ExplainLibraryErrors(settings),  # settings: its batch_size and max_seq_length when the GPU runs out
        ],
        plugins=[AtomicXLACheckpointIO() if runtime.accelerator == "tpu" else AtomicCheckpointIO()],
        logger=CSVLogger(output_dir, name="logs"), log_every_n_steps=10,
        # "warn" on a GPU: deterministic kernels where asking is enough (CPU kernels already are; XLA has no switch)
        deterministic={"cpu": None, "gpu": "warn", "tpu": False}[runtime.accelerator],
        default_root_dir=output_dir, enable_model_summary=False,
    )
