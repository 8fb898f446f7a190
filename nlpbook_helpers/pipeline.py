"""The whole chapter in one function: what the notebooks do cell by cell, for the command line.

Each line is one step of the book, so `train(settings)` reads as its table
of contents: runtime, seed, tokenizer, model, features, loaders, task,
trainer, fit. Running it again with the same output dir resumes from
checkpoints/last.ckpt.
"""

import json
from pathlib import Path

from .features import build_datasets, load_tokenizer, runtime_loaders
from .model import load_model, uses_token_types
from .runtime import check_writable, choose_precision, detect_runtime, get_logger, seed_everything
from .settings import Settings
from .task import NliTask
from .trainer import build_trainer, check_resume


def train(settings: Settings) -> dict:
    """Fine-tune, keep the best model, and return the contents of metrics.json."""
    log = get_logger()
    runtime = detect_runtime(settings.accelerator)
    precision, why = choose_precision(runtime, settings.precision)
    log.info(f"runtime: {runtime.device_name} ({runtime.accelerator}), precision {precision}: {why}")
    check_writable(Path(settings.output_dir))
    seed_everything(settings.seed)

    tokenizer = load_tokenizer(settings.model_name)
    model = load_model(settings.model_name, settings.max_seq_length)
    train_set, dev_set = build_datasets(settings, tokenizer, uses_token_types(model.config))
    train_loader, dev_loader = runtime_loaders(settings, runtime, tokenizer, train_set, dev_set)
    log.info(f"{len(train_set)} training pairs, {len(dev_set)} validation pairs, {len(train_loader)} batches per epoch")

    task = NliTask(model, settings.learning_rate, settings.schedule)
    trainer = build_trainer(settings, runtime, precision, tokenizer)
    resume = check_resume(settings, precision)
    if resume:
        log.info(f"resuming from {resume}")
    trainer.fit(task, train_loader, dev_loader, ckpt_path=resume)
    metrics_file = Path(settings.output_dir) / "metrics.json"
    if not metrics_file.exists() or json.loads(metrics_file.read_text())["epochs"][-1]["step"] != trainer.global_step:
        trainer.validate(task, dev_loader, verbose=False)  # max_steps stopped mid-epoch: measure where we stopped
    return json.loads(metrics_file.read_text(encoding="utf-8"))
