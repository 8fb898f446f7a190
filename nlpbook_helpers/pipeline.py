"""The whole chapter in two functions: `prepare_run(settings)` builds every piece in the book's order (07 shows each),
`fit(run)` trains, resuming from last.ckpt, and returns metrics.json's content. The command line, 07, the benchmarks
and the tests all go through these two."""

from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from .features import PairDataset, build_datasets, load_tokenizer, runtime_loaders
from .model import load_model, uses_token_types
from .run.best_model import BestModelExport
from .runtime import Runtime, check_cpu_training, check_writable, choose_precision, detect_runtime, seed_everything
from .settings import Settings
from .support.log import get_logger
from .support.quiet import quiet_libraries
from .support.speedups import PAD_MULTIPLE, compile_model, use_gpu_speedups
from .task import NliTask
from .trainer import build_trainer, check_fresh, resume_checkpoint


@dataclass
class Run:
    settings: Settings
    runtime: Runtime
    precision: str
    tokenizer: object
    model: object
    train_set: PairDataset
    dev_set: PairDataset
    train_loader: DataLoader
    dev_loader: DataLoader
    task: NliTask
    trainer: pl.Trainer


def prepare_run(settings: Settings, runtime: Runtime | None = None) -> Run:
    """Everything a training run needs, in the book's order; `runtime`: scripts/check_xla.py's stand-in TPU."""
    quiet_libraries()  # only the library messages a learner cannot act on, see support/quiet.py
    runtime = runtime or detect_runtime(settings.accelerator)
    precision, why = choose_precision(runtime, settings.precision)
    get_logger().info(f"runtime: {runtime.device_name} ({runtime.accelerator}), precision {precision}: {why}")
    check_writable(Path(settings.output_dir))
    use_gpu_speedups(runtime)  # GPU-only kernel choices, see support/speedups.py; nothing on a CPU or TPU
    seed_everything(settings.seed)

    tokenizer = load_tokenizer(settings.model_name)
    model = load_model(settings.model_name, settings.max_seq_length)
    compiled = compile_model(model, runtime, settings.compile)  # by default on A100/L4/H100-class GPUs
    train_set, dev_set = build_datasets(settings, tokenizer, uses_token_types(model.config))
    train_loader, dev_loader = runtime_loaders(settings, runtime, tokenizer, train_set, dev_set,
                                               pad_multiple=PAD_MULTIPLE if compiled else None)
    get_logger().info(f"{len(train_set)} training pairs, {len(dev_set)} validation pairs, "
                      f"{len(train_loader)} batches per epoch")
    pairs = len(train_set) * settings.epochs if settings.max_steps < 0 else settings.max_steps * settings.batch_size
    check_cpu_training(runtime, settings.accelerator, model, pairs)  # on Colab: no hours-long CPU run by accident

    task = NliTask(model, settings.learning_rate, settings.schedule)
    trainer = build_trainer(settings, runtime, precision, tokenizer)
    return Run(settings, runtime, precision, tokenizer, model, train_set, dev_set, train_loader, dev_loader, task,
               trainer)


def fit(run: Run, callbacks=()) -> dict:
    """Train (or resume) with `callbacks` added and return metrics.json's content, after check_fresh's checks."""
    run.trainer.callbacks.extend(callbacks)
    check_fresh(run.settings, run.trainer, run.task, run.train_loader, run.dev_loader)
    resume = resume_checkpoint(run.settings, run.runtime, run.precision)
    run.trainer.fit(run.task, run.train_loader, run.dev_loader, ckpt_path=resume)
    return next(callback for callback in run.trainer.callbacks if isinstance(callback, BestModelExport)).summary()


def train(settings: Settings, callbacks=()) -> dict:
    """prepare_run + fit: what `python -m nlpbook_helpers train` runs."""
    return fit(prepare_run(settings), callbacks)
