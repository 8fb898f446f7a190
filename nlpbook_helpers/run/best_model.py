"""metrics.json, best/ and best/README.md (its model card): what the learner keeps (book: the best .ckpt).

One callback owns all three; its state travels in last.ckpt and the files are rewritten from it after each validation
and on a resume, so they never disagree with it. best/ holds the model of the highest val_acc (save_pretrained: 0.4 GB
for kcbert-base, not the book's 1.3 GB .ckpt); its row is kept apart from the history, where a mid-epoch max_steps
stop, once continued, is replaced by its epoch's end.
"""

import json
import math
import os
from pathlib import Path

from pytorch_lightning.callbacks import Callback

from .checkpoints import ELSEWHERE, check_finite
from .sampling import process_rank
from ..corpora import get_corpus
from ..corpus import LABELS, LABELS_KO, is_sample_data
from ..support.drive_files import (atomic_write, ensure_free_space, ran_out_of_space, remove_tree, replace_dir,
                                   write_json)
from ..support.errors import NlpbookError
from ..support.log import get_logger

MONITOR = "val_acc"
METRICS = {"val_loss": "val_loss", "val_acc": "val_acc", "macro_f1": "val_f1"}  # metrics.json's name: the logged one
DATA = Path(__file__).parent.parent / "data"
CARD = (DATA / "model_card.md").read_text(encoding="utf-8")  # best/README.md's body, filled by card_text


class BestModelExport(Callback):
    """After each validation: the history, metrics.json, best/ when val_acc improves, and best/'s card."""

    def __init__(self, settings, tokenizer):
        self.settings, self.tokenizer, self.output_dir = settings, tokenizer, Path(settings.output_dir)
        self.history, self.exported, self.sizes = [], None, {}  # the epochs' rows, best/'s row, the card's pairs

    def state_dict(self):
        return {"history": self.history, "exported": self.exported, "sizes": self.sizes}

    def load_state_dict(self, state_dict):
        self.history, self.exported, self.sizes = state_dict["history"], state_dict["exported"], state_dict["sizes"]

    def on_fit_start(self, trainer, pl_module):
        if self.history and process_rank()[0] == 0:  # a kill may have left metrics.json or the card behind
            check_best_export(self.output_dir, self.exported, self.history[-1]["step"])
            self.write_files(trainer)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        check_finite(metrics["val_loss"], trainer.global_step, pl_module)
        # the epoch the last step belongs to: after max_steps stops mid-epoch, current_epoch has already moved on
        row = {"epoch": math.ceil(trainer.global_step / trainer.num_training_batches), "step": trainer.global_step,
               **{key: round(float(metrics[name]), 6) for key, name in METRICS.items()}}
        improved = self.exported is None or row[MONITOR] > self.exported[MONITOR]
        self.history = [old for old in self.history if old["epoch"] != row["epoch"]] + [row]
        self.exported = row if improved else self.exported
        self.sizes = {"train": len(trainer.train_dataloader.dataset), "dev": len(trainer.val_dataloaders.dataset)}
        if process_rank()[0] == 0:
            if improved:
                self.export(pl_module.model, row)
            self.write_files(trainer)
            get_logger().info(f"에폭 {row['epoch']}: val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.4f} "
                              f"macro_f1 {row['macro_f1']:.4f}" + ("  (지금까지 최고, best/에 저장)" if improved else ""))

    def summary(self) -> dict:  # metrics.json
        return {"epochs": self.history, "best_epoch": self.exported["epoch"], "best_step": self.exported["step"],
                "best": self.exported, "monitor": MONITOR}

    def write_files(self, trainer):
        """metrics.json, then best/README.md; an unchanged card is left alone (not even its time changes)."""
        write_json(self.output_dir / "metrics.json", self.summary())
        card = self.output_dir / "best" / "README.md"
        text = card_text(self.settings, self.summary(), self.sizes, str(trainer.precision))
        if not card.exists() or card.read_text(encoding="utf-8") != text:
            with atomic_write(card, "w", ("모델 카드를", "the model card"), encoding="utf-8") as file:
                file.write(text)

    def export(self, model, row):
        """save_pretrained into best.part, then swap it in for best/: a kill leaves one complete copy."""
        part, length = self.output_dir / "best.part", self.settings.max_seq_length
        remove_tree(part)
        needed = 2 * sum(p.numel() * p.element_size() for p in model.parameters())  # the new copy beside the old
        ensure_free_space(self.output_dir, needed, "best/ 내보내기", "the best/ export")
        kept, self.tokenizer.model_max_length = self.tokenizer.model_max_length, length  # every loader cuts there
        try:
            # safetensors writes from CPU memory; on a TPU the weights live on the XLA device
            model.save_pretrained(part, state_dict={name: tensor.cpu() for name, tensor in model.state_dict().items()})
            self.tokenizer.save_pretrained(part)
            write_json(part / "nlpbook.json", {"max_seq_length": length, **row})
        except Exception as error:  # a disk that filled meanwhile: safetensors reports it as its own SafetensorError
            full = ran_out_of_space(error, self.output_dir, needed)  # asked before the half copy is removed
            remove_tree(part)
            if not full:
                raise
            raise NlpbookError(
                f"{self.output_dir}: best/를 내보내는 중에 공간이 모자랐습니다({error}). 이전 best/와 체크포인트는 "
                "그대로이니, Drive의 파일을 지우고 다시 실행하면 이어서 학습합니다.",
                f"{self.output_dir}: ran out of space while exporting best/ ({error}). The previous best/ and the "
                "checkpoint are intact: free space on Drive and run again to continue.") from None
        finally:
            self.tokenizer.model_max_length = kept
        replace_dir(part, self.output_dir / "best")


def metrics_best(metrics: dict) -> dict:
    """The row best/ was exported from, as metrics.json keeps it (one written before "best" existed: by epoch)."""
    return metrics.get("best") or next(row for row in metrics["epochs"] if row["epoch"] == metrics["best_epoch"])


def check_best_export(output_dir: Path, best_one: dict, last_step: int) -> None:
    """A rerun refuses a best/ without the best row's model; a later step's (killed before the checkpoint) is fine."""
    restore_interrupted_export(output_dir)
    best = output_dir / "best"
    try:
        exported = json.loads((best / "nlpbook.json").read_text(encoding="utf-8"))
        json.loads((best / "config.json").read_text(encoding="utf-8"))  # emptied or cut: nothing could load best/
        weights = next(best.glob("*.safetensors")).stat().st_size > 0
    except (OSError, ValueError, StopIteration):
        exported, weights = {}, False
    if not weights or exported.get("step", -1) <= last_step and exported.get("step") != best_one["step"]:
        raise NlpbookError(
            f"{best}: 최고 에폭({best_one['epoch']}, 스텝 {best_one['step']})의 모델이 없거나 손상되어(가중치가 없거나 다른 "
            f"스텝의 것) 되살릴 수 없습니다(best/에만 있었습니다). best/를 다른 이름으로 옮기고 {ELSEWHERE[0]}.",
            f"{best}: the best epoch's ({best_one['epoch']}) model is missing or damaged (no weights, or not step "
            f"{best_one['step']}'s) and cannot be recovered (only best/ had it): move best/ aside and {ELSEWHERE[1]}.")


def restore_interrupted_export(output_dir: Path) -> None:
    """If a kill fell between the two renames of replace_dir, put the previous best back."""
    best, old = Path(output_dir) / "best", Path(output_dir) / "best.old"
    if old.exists() and not best.exists():
        os.replace(old, best)


def card_metadata(settings, corpus, best: dict, sample: bool):
    """The card's YAML header, what the Hub reads: language, license, dataset, base model, results."""
    from huggingface_hub import EvalResult, ModelCardData
    common = dict(language="ko", pipeline_tag="text-classification")
    tags = ["nli", "sentence-pair-classification", "nlpbook"]
    if sample:  # our own sample sentences (the course's license), a tiny local model
        return ModelCardData(license="mit", tags=tags + ["pipeline-check"], **common)
    if corpus.hub_dataset is None:  # a corpus with no copy on the Hub: no dataset to link the results to
        return ModelCardData(license=corpus.license or None, base_model=settings.model_name, tags=tags, **common)
    hub_id, config, split = corpus.hub_dataset
    results = [EvalResult(task_type="text-classification", task_name="Natural Language Inference",
                          dataset_type=hub_id, dataset_name=corpus.title, dataset_config=config,
                          dataset_split=split, metric_type=kind, metric_name=name, metric_value=best[key])
               for kind, name, key in (("accuracy", "val_acc", "val_acc"), ("f1", "macro F1", "macro_f1"))]
    return ModelCardData(license=corpus.license, datasets=[hub_id], base_model=settings.model_name,
                         metrics=["accuracy", "f1"], tags=tags, eval_results=results,
                         model_name=f"{settings.model_name.split('/')[-1]}-{settings.corpus}", **common)


def card_text(settings, metrics: dict, sizes: dict, precision: str) -> str:
    """best/README.md in Korean and English: metrics.json's rows by step, the exported one too if it was replaced."""
    best, corpus = metrics_best(metrics), get_corpus(settings.corpus)
    sample = is_sample_data(settings.data_dir, corpus)  # a pipeline check, not a model
    rows = sorted(metrics["epochs"] + ([] if best in metrics["epochs"] else [best]), key=lambda row: row["step"])
    epochs = "\n".join(f"| {row['epoch']}{' (best)' if row == best else ''} | {row['step']} | {row['val_loss']} "
                       f"| {row['val_acc']} | {row['macro_f1']} |" for row in rows)  # as metrics.json holds them
    labels = "\n".join(f"| {i} | {name} | {LABELS_KO[name]} |" for i, name in enumerate(LABELS))
    pairs = {split: f"{sizes[split]:,}" if split in sizes else "?" for split in ("train", "dev")}
    title, hub_id = corpus.title or corpus.name, (corpus.hub_dataset or [None])[0]
    hub_link = f" ([{hub_id}](https://huggingface.co/datasets/{hub_id}))" if hub_id else ""
    corpus_line = "강의 패키지의 샘플 말뭉치 / the course's bundled sample" if sample else \
        f"{title}{hub_link}, {corpus.license or 'license: see the corpus'}"
    warning = (DATA / "model_card_sample.md").read_text(encoding="utf-8") + "\n" if sample else ""  # "pipeline check"
    return f"---\n{card_metadata(settings, corpus, best, sample).to_yaml()}\n---\n\n" + CARD.format(
        model=Path(settings.model_name).name, title=title, warning=warning, settings=settings, corpus_line=corpus_line,
        pairs=pairs, precision=precision, labels=labels, epochs=epochs, best=best)
