"""The course's training settings in one validated dataclass (book: code 3-3).

The defaults are the book's: kcbert-base fine-tuned on KLUE-NLI with
max_seq_length 64, batch 32, learning rate 5e-5, 5 epochs, seed 7. A bad
value is refused when the settings are made, with the field, the value and
what is allowed, instead of failing twenty minutes into training.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import NlpbookError

CORPORA = ("klue-nli",)
SCHEDULES = ("recommended", "faithful")
ACCELERATORS = ("auto", "gpu", "tpu", "cpu")
PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed", "bf16-true")


@dataclass
class Settings:
    model_name: str = "beomi/kcbert-base"  # a hub name, or a folder written by save_pretrained
    corpus: str = "klue-nli"
    work_dir: str = "nlpbook-work"  # corpus, caches and runs live here (on Drive in Colab)
    data_dir: str = ""  # holds klue-nli-v1.1_{train,dev}.json; "" means work_dir/klue-nli
    output_dir: str = ""  # metrics.json, best/, checkpoints/; "" means work_dir/runs/paircls
    max_seq_length: int = 64  # tokens per pair, [CLS] and two [SEP] included
    batch_size: int = 32
    learning_rate: float = 5e-5
    epochs: int = 5
    max_steps: int = -1  # stop after this many optimizer steps; -1 runs every epoch
    schedule: str = "recommended"  # "recommended": warmup + linear decay; "faithful": the book's constant lr
    seed: int = 7
    accelerator: str = "auto"  # auto, gpu, tpu or cpu
    precision: str = "auto"  # auto picks per runtime, see runtime.choose_precision
    devices: int = 1  # more than one GPU trains with Lightning's DDP
    checkpoint_every_n_steps: int = 1000  # last.ckpt also at every epoch end; ~4-5 min on a T4 (estimate)
    length_grouped: bool = False  # batch pairs of similar length together (less padding, still shuffled)

    def __post_init__(self):
        self.data_dir = self.data_dir or str(Path(self.work_dir) / "klue-nli")
        self.output_dir = self.output_dir or str(Path(self.work_dir) / "runs" / "paircls")
        _check_choice("corpus", self.corpus, CORPORA)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("accelerator", self.accelerator, ACCELERATORS)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_positive("learning_rate", self.learning_rate)
        for name in ("batch_size", "epochs", "max_seq_length", "devices", "checkpoint_every_n_steps"):
            _check_positive(name, getattr(self, name))
        if self.max_seq_length < 8:
            raise NlpbookError(
                f"max_seq_length={self.max_seq_length}는 너무 짧습니다. 8 이상(책은 64)을 쓰세요.",
                f"max_seq_length={self.max_seq_length} is too short: use 8 or more (the book uses 64).",
            )
        if self.max_steps == 0 or self.max_steps < -1:
            raise NlpbookError(
                f"max_steps={self.max_steps}는 쓸 수 없습니다. 양수 또는 -1(전체 에폭)을 주세요.",
                f"max_steps={self.max_steps} is not allowed: give a positive number, or -1 for all epochs.",
            )


def check_max_seq_length(max_seq_length: int, model_positions: int, model_name: str) -> None:
    """Refuse a max_seq_length the model has no position embeddings for."""
    if max_seq_length > model_positions:
        raise NlpbookError(
            f"max_seq_length={max_seq_length}가 모델 {model_name}의 최대 길이 {model_positions}보다 깁니다. "
            f"{model_positions} 이하로 줄이세요.",
            f"max_seq_length={max_seq_length} exceeds the {model_positions} positions of {model_name}: "
            f"use {model_positions} or less.",
        )


def course_settings(**overrides) -> "Settings":
    """The settings every notebook starts from (book: code 3-3).

    Normally the book's values, with the work dir on Drive in Colab. With
    NLPBOOK_SMOKE=1 (the headless tests) the bundled sample, a tiny model and
    8 quick epochs instead (enough for it to learn), announced in one line.
    """
    from .runtime import resolve_work_dir
    from .sample import sample_settings  # sample builds on Settings, so it is imported here, not at the top

    work_dir = resolve_work_dir()
    if smoke_mode():
        print("NLPBOOK_SMOKE=1: 번들 샘플 말뭉치와 작은 모델로 빠르게 실행합니다 / running on the bundled sample and a tiny model")
        return sample_settings(work_dir, **{"epochs": 8, **overrides})
    return Settings(work_dir=str(work_dir), **overrides)


def smoke_mode() -> bool:
    """True when NLPBOOK_SMOKE=1: notebooks then use the bundled sample and a tiny model."""
    return os.environ.get("NLPBOOK_SMOKE", "") == "1"


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise NlpbookError(
            f"{name}={value!r}는 지원하지 않습니다. 다음 중 하나를 쓰세요: {', '.join(allowed)}",
            f"{name}={value!r} is not supported; use one of: {', '.join(allowed)}",
        )


def _check_positive(name, value):
    if not value > 0:
        raise NlpbookError(
            f"{name}={value}는 0보다 커야 합니다.",
            f"{name}={value} must be greater than 0.",
        )
