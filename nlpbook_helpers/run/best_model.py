"""The run's history, metrics.json and best/: what the learner keeps from training (book: the best .ckpt).

The history (one row per epoch) and the row best/ was exported from travel in
checkpoints/last.ckpt as this callback's state, and metrics.json is written
from them after each validation and again when a run resumes: the two never
disagree, and a kill while metrics.json was being replaced is repaired by the
rerun. best/ holds the best validation's model and tokenizer from
`save_pretrained` (0.4 GB for kcbert-base, not the book's 1.3 GB .ckpt);
"best" means highest val_acc, KLUE-NLI's official metric (val_loss can rise
while accuracy still improves), the earliest of equal ones.

The exported row is kept apart from the history: a run stopped mid-epoch by
max_steps validates there, and when it is continued that epoch's row is
replaced by the one at its end. If the mid-epoch validation was the best,
best/ still holds it, and so do metrics.json's "best" (with best_epoch and
best_step) and the model card, which lists it beside the epochs.
best/'s tokenizer keeps the training length as its model_max_length, so
pipeline(..., truncation=True) reads what training read.
"""

import json
import math
import os
from pathlib import Path

from pytorch_lightning.callbacks import Callback

from .checkpoints import check_finite
from ..support.drive_files import ensure_free_space, ran_out_of_space, remove_tree, replace_dir, write_json
from ..support.errors import NlpbookError
from ..runtime import get_logger

MONITOR = "val_acc"


class BestModelExport(Callback):
    """After each validation: add the epoch to the history, write metrics.json from it, and export the model to
    best/ when val_acc improves. The history travels in last.ckpt, so a resumed run continues the same one."""

    def __init__(self, output_dir: Path, tokenizer, max_seq_length: int):
        self.output_dir = Path(output_dir)
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.history: list[dict] = []
        self.exported: dict | None = None  # the validation best/ holds

    def state_dict(self):
        return {"history": self.history, "exported": self.exported}

    def load_state_dict(self, state_dict):
        self.history = state_dict["history"]
        # a checkpoint written before the exported row was kept: the best of its history, as it was then exported
        self.exported = state_dict.get("exported") or (best_row(self.history) if self.history else None)

    def on_fit_start(self, trainer, pl_module):
        if self.history and trainer.is_global_zero:
            write_json(self.output_dir / "metrics.json", self.summary())  # a kill may have left it behind
            check_best_export(self.output_dir, self.best(), self.history[-1]["step"])

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        check_finite(metrics["val_loss"], trainer.global_step, pl_module)
        row = {
            # the epoch the last step belongs to: after max_steps stops mid-epoch, current_epoch has already moved on
            "epoch": math.ceil(trainer.global_step / trainer.num_training_batches),
            "step": trainer.global_step,
            "val_loss": round(float(metrics["val_loss"]), 6),
            "val_acc": round(float(metrics["val_acc"]), 6),
            "macro_f1": round(float(metrics["val_f1"]), 6),
        }
        improved = self.exported is None or row[MONITOR] > self.exported[MONITOR]
        self.history = [old for old in self.history if old["epoch"] != row["epoch"]] + [row]
        if improved:
            self.exported = row
        if trainer.is_global_zero:
            if improved:
                self.export(pl_module.model, row)
            write_json(self.output_dir / "metrics.json", self.summary())
            get_logger().info(
                f"에폭 {row['epoch']}: val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.4f} "
                f"macro_f1 {row['macro_f1']:.4f}" + ("  (지금까지 최고, best/에 저장)" if improved else "")
            )

    def best(self) -> dict:
        return self.exported

    def summary(self) -> dict:
        best = self.best()
        return {"epochs": self.history, "best_epoch": best["epoch"], "best_step": best["step"], "best": best,
                "monitor": MONITOR}

    def export(self, model, row):
        """save_pretrained into best.part, then swap it in for best/: a kill leaves one complete copy."""
        best, part = self.output_dir / "best", self.output_dir / "best.part"
        remove_tree(part)
        needed = 2 * sum(p.numel() * p.element_size() for p in model.parameters())  # the new copy beside the old
        ensure_free_space(self.output_dir, needed, "best/ 내보내기", "the best/ export")
        try:
            # safetensors writes from CPU memory; on a TPU the weights live on the XLA device
            model.save_pretrained(part, state_dict={name: tensor.cpu() for name, tensor in model.state_dict().items()})
            save_tokenizer(self.tokenizer, part, self.max_seq_length)
            write_json(part / "nlpbook.json", {"max_seq_length": self.max_seq_length, **row})
        except Exception as error:  # a disk that filled meanwhile: safetensors reports it as its own SafetensorError
            full = ran_out_of_space(error, self.output_dir, needed)
            remove_tree(part)
            if not full:
                raise
            raise NlpbookError(
                f"{self.output_dir}: best/를 내보내는 중에 공간이 모자랐습니다({error}). 이전 best/와 체크포인트는 그대로 "
                "있습니다. Drive에서 파일을 지우고 다시 실행하면 마지막 체크포인트부터 이어서 학습합니다.",
                f"{self.output_dir}: ran out of space while exporting best/ ({error}). The previous best/ and the "
                "checkpoint are intact: free some space on Drive and run again to continue from the last checkpoint.",
            ) from None
        replace_dir(part, best)


def best_row(history: list[dict]) -> dict:
    """The validation best/ holds: the highest val_acc, the earliest of equal ones (an export needs a rise)."""
    return max(history, key=lambda row: row[MONITOR])  # max keeps the first of equal values


def metrics_best(metrics: dict) -> dict:
    """The row best/ was exported from, as metrics.json keeps it (one written before "best" existed: by epoch)."""
    return metrics.get("best") or next(row for row in metrics["epochs"] if row["epoch"] == metrics["best_epoch"])


def save_tokenizer(tokenizer, folder: Path, max_seq_length: int) -> None:
    """save_pretrained with model_max_length = the training length, so every tool that loads best/ cuts there."""
    kept = tokenizer.model_max_length
    tokenizer.model_max_length = max_seq_length
    try:
        tokenizer.save_pretrained(folder)
    finally:
        tokenizer.model_max_length = kept


def check_best_export(output_dir: Path, best_one: dict, last_step: int) -> None:
    """best/ must hold the best validation's model: a rerun says so when it does not, instead of pointing to it.

    A model exported after the checkpoint's last validation (a kill fell
    between the export and the save) is fine: the resumed run validates that
    step again, with the same result, and exports it again.
    """
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
            f"{best}: 최고 에폭({best_one['epoch']}, 스텝 {best_one['step']})의 모델이 없거나 손상되었습니다(가중치 파일 "
            "없음 또는 다른 스텝의 모델). 그 가중치는 best/에만 있었으므로 되살릴 수 없습니다. best/를 다른 이름으로 "
            "옮기고 다른 출력 폴더(output_dir)에서 다시 학습하세요.",
            f"{best}: the best epoch's ({best_one['epoch']}) model is missing or damaged (no weights file, or not "
            f"step {best_one['step']}'s). Its weights were kept only there and cannot be recovered: move best/ aside "
            "and train again in another output_dir.",
        )


def restore_interrupted_export(output_dir: Path) -> None:
    """If a kill fell between the two renames of replace_dir, put the previous best back."""
    best, old = Path(output_dir) / "best", Path(output_dir) / "best.old"
    if old.exists() and not best.exists():
        os.replace(old, best)
