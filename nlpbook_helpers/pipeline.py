"""The whole chapter in one function: what the notebooks do cell by cell, for the command line.

Each line is one step of the book, so `train(settings)` reads as its table
of contents: runtime, seed, corpus, tokenizer, features, loaders, model,
task, trainer, fit. Running it again with the same output dir resumes from
checkpoints/last.ckpt.
"""

import json
from pathlib import Path

from .corpus import SPLITS, download_klue_nli, load_corpus
from .features import cached_dataset, load_tokenizer, make_loaders
from .model import load_model, uses_token_types
from .runtime import check_writable, choose_precision, detect_runtime, get_logger, resolve_work_dir, seed_everything
from .sample import sample_settings
from .settings import Settings, smoke_mode
from .task import NliTask
from .trainer import build_trainer, resume_checkpoint


def course_settings(**overrides) -> Settings:
    """The settings every notebook starts from (book: code 3-3).

    Normally the book's values, with the work dir on Drive in Colab. With
    NLPBOOK_SMOKE=1 (the headless tests) the bundled sample, a tiny model and
    a couple of epochs instead, announced in one line.
    """
    work_dir = resolve_work_dir()
    if smoke_mode():
        print("NLPBOOK_SMOKE=1: 번들 샘플 말뭉치와 작은 모델로 빠르게 실행합니다 / running on the bundled sample and a tiny model")
        return sample_settings(work_dir, **{"epochs": 2, **overrides})
    return Settings(work_dir=str(work_dir), **overrides)


def build_datasets(settings: Settings, tokenizer, token_types: bool):
    """Read both splits (downloading them if missing) and encode them through the feature cache."""
    data_dir = Path(settings.data_dir)
    if not all((data_dir / split.filename).exists() for split in SPLITS.values()):
        download_klue_nli(data_dir)
    examples = load_corpus(data_dir)
    cache_dir = Path(settings.work_dir) / "cache"
    return [
        cached_dataset(tokenizer, split_examples, settings.max_seq_length, token_types,
                       data_dir / split.filename, cache_dir)
        for split_examples, split in zip(examples, SPLITS.values())
    ]


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
    train_loader, dev_loader = make_loaders(
        train_set, dev_set, settings.batch_size, tokenizer.pad_token_id,
        fixed_length=settings.max_seq_length if runtime.accelerator == "tpu" else None,
        length_grouped=settings.length_grouped, seed=settings.seed, pin_memory=runtime.accelerator == "gpu",
    )
    log.info(f"{len(train_set)} training pairs, {len(dev_set)} validation pairs, {len(train_loader)} batches per epoch")

    task = NliTask(model, settings.learning_rate, settings.schedule)
    trainer = build_trainer(settings, runtime, precision, tokenizer)
    resume = resume_checkpoint(settings.output_dir)
    if resume:
        log.info(f"resuming from {resume}")
    trainer.fit(task, train_loader, dev_loader, ckpt_path=resume)
    metrics_file = Path(settings.output_dir) / "metrics.json"
    if not metrics_file.exists() or json.loads(metrics_file.read_text())["epochs"][-1]["step"] != trainer.global_step:
        trainer.validate(task, dev_loader, verbose=False)  # max_steps stopped mid-epoch: measure where we stopped
    return json.loads(metrics_file.read_text(encoding="utf-8"))
