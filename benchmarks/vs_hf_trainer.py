"""Our run against what a learner would pick instead: Hugging Face's `Trainer`, set up the way the HF course's chapter 3 does.

    pip install accelerate datasets      # what the HF course's way needs; the package itself does not
    python benchmarks/vs_hf_trainer.py --rounds 3 [--epochs 8] [--json out.json]

Both sides train the bundled sample's tiny BERT on the sample corpus with
the same batch size, epochs, peak learning rate, warmup-and-linear-decay
schedule, AdamW(eps=1e-6, no weight decay), seed and one CPU thread, and
validate after every epoch:
- ours: `pipeline.train(sample_settings(...))`, what `train --sample` runs
  (dynamic padding, metrics.json, best/ exports, last.ckpt after every
  validation, the CSV log, the progress bar);
- HF: the course's recipe: `datasets` + `Dataset.map` to tokenize,
  `DataCollatorWithPadding`, `TrainingArguments(eval_strategy="epoch")` with
  the values above, `Trainer(..., compute_metrics=accuracy)`, `.train()`. It
  saves no checkpoint inside these steps (its default saves every 500).
The clock covers the fit only (`trainer.fit` / `Trainer.train`, validations
included), not loading or tokenizing. Rounds alternate which side goes first
(this VM's speed drifts); the medians and every round are printed. val_acc
is the last epoch's on the sample's 108 validation pairs. On so small a
sample it depends on the seed far more than on the trainer (one seed gave
0.77 and 0.70, another 0.68 and 0.75), so round k trains both sides with
seed 7 + k and the medians are compared.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere in the repository
from nlpbook_helpers import pipeline  # noqa: E402
from nlpbook_helpers.corpus import LABELS, load_corpus  # noqa: E402
from nlpbook_helpers.sample import sample_settings  # noqa: E402
from nlpbook_helpers.task import WARMUP_RATIO  # noqa: E402


class FitClock:
    """Seconds of trainer.fit, from its start to its end (a Lightning callback)."""

    def __init__(self):
        from pytorch_lightning.callbacks import Callback

        clock = self

        class Clock(Callback):
            def on_fit_start(self, trainer, pl_module):
                clock.start = time.perf_counter()

            def on_fit_end(self, trainer, pl_module):
                clock.seconds = time.perf_counter() - clock.start
                clock.steps = trainer.global_step

        self.callback = Clock()


def ours(settings) -> dict:
    clock = FitClock()
    metrics = pipeline.train(settings, callbacks=[clock.callback])
    return {"seconds": clock.seconds, "steps": clock.steps, "val_acc": metrics["epochs"][-1]["val_acc"]}


def hugging_face(settings, output_dir: Path) -> dict:
    """The HF course's chapter 3, with our values (and a label map by name, as KLUE-NLI needs)."""
    import numpy as np
    from datasets import Dataset, DatasetDict
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments, set_seed)

    train, dev = load_corpus(settings.data_dir)
    raw = DatasetDict({split: Dataset.from_list([{"premise": e.premise, "hypothesis": e.hypothesis, "label": e.label}
                                                 for e in examples]) for split, examples in (("train", train),
                                                                                             ("validation", dev))})
    tokenizer = AutoTokenizer.from_pretrained(settings.model_name)

    def tokenize(batch):
        return tokenizer(batch["premise"], batch["hypothesis"], truncation=True, max_length=settings.max_seq_length)

    tokenized = raw.map(tokenize, batched=True)
    set_seed(settings.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        settings.model_name, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)})

    def accuracy(prediction):
        logits, labels = prediction
        return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}

    args = TrainingArguments(
        str(output_dir), eval_strategy="epoch", num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size, per_device_eval_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate, lr_scheduler_type="linear", warmup_steps=WARMUP_RATIO,  # a ratio below 1 (transformers 5)
        weight_decay=0.0, adam_epsilon=1e-6, seed=settings.seed, use_cpu=True, report_to="none",
        logging_steps=10, disable_tqdm=True, dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=tokenized["train"], eval_dataset=tokenized["validation"],
                      data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                      compute_metrics=accuracy)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    evaluations = [row for row in trainer.state.log_history if "eval_accuracy" in row]
    return {"seconds": seconds, "steps": trainer.state.global_step, "val_acc": evaluations[-1]["eval_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="even, so each side goes first as often")
    parser.add_argument("--epochs", type=int, default=8, help="the notebooks' sample run trains 8")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds = []
    for index in range(args.rounds):
        order = ("ours", "hf") if index % 2 == 0 else ("hf", "ours")
        row = {}
        for side in order:
            with tempfile.TemporaryDirectory() as work:
                settings = sample_settings(work, epochs=args.epochs, seed=7 + index)
                row[side] = ours(settings) if side == "ours" else hugging_face(settings, Path(work) / "hf")
            row[side]["steps_per_s"] = row[side]["steps"] / row[side]["seconds"]
        row["ratio"] = row["ours"]["steps_per_s"] / row["hf"]["steps_per_s"]
        rounds.append(row)
        print(f"round {index + 1} (seed {7 + index}, {' then '.join(order)}): ours {row['ours']['steps_per_s']:.1f} steps/s, "
              f"val_acc {row['ours']['val_acc']:.4f}; HF Trainer {row['hf']['steps_per_s']:.1f} steps/s, "
              f"val_acc {row['hf']['val_acc']:.4f}; ours ÷ HF {row['ratio']:.2f}×", flush=True)
    ratios = [row["ratio"] for row in rounds]
    summary = {side: {"steps_per_s": statistics.median(row[side]["steps_per_s"] for row in rounds),
                      "val_acc": statistics.median(row[side]["val_acc"] for row in rounds),
                      "steps": rounds[0][side]["steps"]} for side in ("ours", "hf")}
    summary |= {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                "rounds": rounds, "torch": torch.__version__}
    print(f"median of {len(rounds)} rounds: ours ÷ HF Trainer {summary['ratio_median']:.2f}× steps/s "
          f"(spread {summary['ratio_min']:.2f}–{summary['ratio_max']:.2f}); val_acc ours {summary['ours']['val_acc']:.4f}, "
          f"HF {summary['hf']['val_acc']:.4f}; target ≥ 1.0×: {'met' if summary['ratio_median'] >= 1.0 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
