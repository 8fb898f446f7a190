"""Our pipeline (nlpbook_helpers) on the benchmark's plan: the learner's run, timed.

Run by benchmarks/vs_original.py with the project's Python; prints its figures
as one JSON line. It times the features as a first run builds them, then
trains through `pipeline.prepare_run` and `pipeline.fit` as the command line
does, with two differences: the loaders hold only the plan's first examples
(--quick, as the original side does) and the batch clock rides along as a callback.
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
from nlpbook_helpers.features import PairDataset, build_datasets, load_tokenizer, runtime_loaders
from nlpbook_helpers.model import load_model, uses_token_types
from nlpbook_helpers.pipeline import fit, prepare_run
from nlpbook_helpers.settings import Settings


def first(dataset: PairDataset, n: int) -> PairDataset:
    """The first n pairs of a dataset (--quick trains on the plan's first examples, as the original side does)."""
    end = int(dataset.offsets[n])
    return PairDataset({name: values[: n + 1] if name == "offsets" else values[:n] if name == "labels" else values[:end]
                        for name, values in dataset.flat.items()})


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
    model = load_model(settings.model_name, settings.max_seq_length)

    # Tokenizer, then features for train and dev, written to the package's cache as on a first run.
    gc.collect()  # what the imports and the model left for the collector is not the tokenization's to pay
    start = time.perf_counter()
    build_datasets(settings, load_tokenizer(settings.model_name), uses_token_types(model.config))
    tokenize_s = time.perf_counter() - start

    run = prepare_run(settings)  # the learner's run; its features now come from the cache
    run.train_loader, run.dev_loader = runtime_loaders(
        settings, run.runtime, run.tokenizer, first(run.train_set, plan["train_pairs"]), first(run.dev_set, plan["val_pairs"]))
    clock = BatchClock(plan["warmup_batches"], Turns.from_plan(plan))
    fit(run, callbacks=[clock])

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
        "dataloader_workers": run.train_loader.num_workers,
        "precision": run.precision,
        "schedule": settings.schedule,
    })
    report(figures)


if __name__ == "__main__":
    main(sys.argv[1])
