"""Our pipeline (nlpbook_helpers), step by step as the notebooks run it, on the benchmark's plan.

Run by benchmarks/vs_original.py with the project's Python; prints its figures
as one JSON line. It calls the package's own functions in the order of
`nlpbook_helpers.pipeline.train`, so that it can time the features, train on
the plan's first examples (--quick) and add the batch clock.
"""

import gc
import json
import platform
import resource
import sys
import time
from pathlib import Path

import pytorch_lightning
import torch
import transformers

from batch_clock import BatchClock, Turns, files_mb, peak_rss_mb, report
from nlpbook_helpers.corpus import load_corpus
from nlpbook_helpers.features import build_datasets, encode_pairs, load_tokenizer, runtime_loaders
from nlpbook_helpers.model import load_model, uses_token_types
from nlpbook_helpers.runtime import choose_precision, detect_runtime, seed_everything
from nlpbook_helpers.settings import Settings
from nlpbook_helpers.task import NliTask
from nlpbook_helpers.trainer import build_trainer


def main(plan_file):
    plan = json.loads(Path(plan_file).read_text())
    torch.set_num_threads(plan["threads"])
    settings = Settings(
        model_name=plan["our_model_dir"],
        work_dir=plan["output_dir"],  # the feature cache goes to work_dir/cache, fresh for every run
        data_dir=plan["corpus_dir"],
        output_dir=plan["output_dir"],
        max_seq_length=plan["max_seq_length"],
        batch_size=plan["batch_size"],
        learning_rate=plan["learning_rate"],
        epochs=plan["epochs"],
        seed=plan["seed"],
        accelerator="cpu",
        length_grouped=plan["length_grouped"],
    )
    runtime = detect_runtime(settings.accelerator)
    precision, _ = choose_precision(runtime, settings.precision)
    seed_everything(settings.seed)

    model = load_model(settings.model_name, settings.max_seq_length)
    token_types = uses_token_types(model.config)

    # Tokenizer, then features for train and dev, written to the package's cache as on a first run.
    gc.collect()  # what the imports and the model left for the collector is not the tokenization's to pay
    start = time.perf_counter()
    tokenizer = load_tokenizer(settings.model_name)
    build_datasets(settings, tokenizer, token_types)
    tokenize_s = time.perf_counter() - start

    train_examples, dev_examples = load_corpus(settings.data_dir)
    train_set, dev_set = (
        encode_pairs(tokenizer, examples[:n], settings.max_seq_length, token_types)
        for examples, n in ((train_examples, plan["train_pairs"]), (dev_examples, plan["val_pairs"]))
    )
    train_loader, dev_loader = runtime_loaders(settings, runtime, tokenizer, train_set, dev_set)

    task = NliTask(model, settings.learning_rate, settings.schedule)
    trainer = build_trainer(settings, runtime, precision, tokenizer)
    clock = BatchClock(plan["warmup_batches"], Turns.from_plan(plan))
    trainer.callbacks.append(clock)
    trainer.fit(task, train_loader, dev_loader)

    output = Path(settings.output_dir)
    metrics = json.loads((output / "metrics.json").read_text())
    figures = clock.summary()
    figures.update({
        "stack": f"nlpbook_helpers, pytorch-lightning {pytorch_lightning.__version__}, transformers "
                 f"{transformers.__version__}, torch {torch.__version__}, Python {platform.python_version()}",
        "tokenize_s": tokenize_s,
        "val_acc": metrics["epochs"][-1]["val_acc"],
        "checkpoint_mb": files_mb([output / "best", output / "checkpoints"]),
        "checkpoint_mb_best": files_mb([output / "best"]),
        "checkpoint_files": sorted(str(p.relative_to(output)) for p in (output / "best").iterdir())
        + sorted(str(p.relative_to(output)) for p in (output / "checkpoints").iterdir()),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_worker_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "dataloader_workers": train_loader.num_workers,
        "precision": precision,
        "schedule": settings.schedule,
    })
    report(figures)


if __name__ == "__main__":
    main(sys.argv[1])
