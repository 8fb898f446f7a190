"""The course's training settings in one validated dataclass (book: code 3-3).

The defaults are the book's: kcbert-base fine-tuned on KLUE-NLI with
max_seq_length 64, batch 32, learning rate 5e-5, 5 epochs, seed 7. A bad
value is refused when the settings are made, with the field, the value and
what is allowed, instead of failing twenty minutes into training.

This dataclass is the one source of the settings: the command line's
`train` flags, their defaults, help texts and choices are generated from its
fields by transformers' HfArgumentParser.
"""

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

from .errors import NlpbookError


# Under the work dir. KorNLI's folder is Korpora's root: the files go to korpora/kornli/, as Korpora lays them out.
DEFAULT_DATA_DIRS = {"klue-nli": "klue-nli", "kornli": "korpora"}
# Under WORK_DIR/runs: each corpus its own, so training one never resumes the other's checkpoint.
DEFAULT_OUTPUT_DIRS = {"klue-nli": "paircls", "kornli": "paircls-kornli"}


def setting(default, help: str, *aliases: str):
    """A field with the help text (and short flag names) the command line shows."""
    return field(default=default, metadata={"help": help, "aliases": list(aliases)})


@dataclass
class Settings:
    model_name: str = setting("beomi/kcbert-base", "a hub name, or a folder written by save_pretrained", "--model")
    corpus: Literal["klue-nli", "kornli"] = setting(
        "klue-nli", "klue-nli: KLUE-NLI train/dev; kornli: KorNLI's MultiNLI + SNLI train, XNLI dev (via Korpora)")
    work_dir: str = setting("nlpbook-work", "corpus, caches and runs live here (on Drive in Colab)")
    data_dir: str = setting("", "the corpus folder (downloaded if missing); empty means WORK_DIR/klue-nli, or for "
                                "kornli WORK_DIR/korpora, Korpora's root folder holding kornli/")
    output_dir: str = setting("", "metrics.json, best/ and checkpoints/; empty means WORK_DIR/runs/paircls "
                                  "(WORK_DIR/runs/paircls-kornli for kornli)")
    max_seq_length: int = setting(64, "tokens per pair, [CLS] and two [SEP] included")
    batch_size: int = setting(32, "pairs per optimizer step")
    learning_rate: float = setting(5e-5, "AdamW's learning rate (the peak, with the recommended schedule)", "--lr")
    epochs: int = setting(5, "passes over the training set")
    max_steps: int = setting(-1, "stop after this many optimizer steps; -1 runs every epoch")
    schedule: Literal["recommended", "faithful"] = setting(
        "recommended", "recommended: warmup + linear decay; faithful: the book's constant learning rate")
    seed: int = setting(7, "seed for Python, NumPy and torch")
    accelerator: Literal["auto", "gpu", "tpu", "cpu"] = setting("auto", "the device to train on")
    precision: Literal["auto", "32-true", "16-mixed", "bf16-mixed", "bf16-true"] = setting(
        "auto", "auto picks one per runtime (see runtime.choose_precision)")
    devices: int = setting(1, "GPUs to train on (per machine); more than 1 trains with Lightning's DDP")
    num_nodes: int = setting(1, "machines to train on, each with DEVICES GPUs (Lightning's num_nodes); the cluster "
                                "(SLURM, torchrun) starts the processes and sets their ranks")
    checkpoint_every_n_steps: int = setting(
        1000, "write checkpoints/last.ckpt every N optimizer steps (and at each epoch end)", "--checkpoint-every")
    length_grouped: bool = setting(False, "batch pairs of similar length together (less padding, still shuffled)")
    compile: Literal["auto", "on", "off"] = setting(
        "auto", "torch.compile the model; auto: on with an A100, L4, H100 or newer GPU, else off (see speedups.py)")

    def __post_init__(self):
        for name in ("corpus", "schedule", "accelerator", "precision", "compile"):
            _check_choice(name, getattr(self, name), choices(name))
        self.data_dir = self.data_dir or str(Path(self.work_dir) / DEFAULT_DATA_DIRS[self.corpus])
        self.output_dir = self.output_dir or str(Path(self.work_dir) / "runs" / DEFAULT_OUTPUT_DIRS[self.corpus])
        _check_positive("learning_rate", self.learning_rate)
        for name in ("batch_size", "epochs", "max_seq_length", "devices", "num_nodes", "checkpoint_every_n_steps"):
            _check_positive(name, getattr(self, name))
        if self.max_seq_length < 8:
            raise NlpbookError(
                f"max_seq_length={self.max_seq_length}: 너무 짧습니다. 8 이상(책은 64)을 쓰세요.",
                f"max_seq_length={self.max_seq_length} is too short: use 8 or more (the book uses 64).",
            )
        if self.max_steps == 0 or self.max_steps < -1:
            raise NlpbookError(
                f"max_steps={self.max_steps}: 쓸 수 없는 값입니다. 양수 또는 -1(전체 에폭)을 주세요.",
                f"max_steps={self.max_steps} is not allowed: give a positive number, or -1 for all epochs.",
            )


def choices(name: str) -> tuple:
    """The values a Literal-typed setting allows, e.g. choices("schedule")."""
    return get_args(Settings.__annotations__[name])


def default(name: str):
    """A setting's default value, e.g. default("max_seq_length") == 64."""
    return next(f.default for f in fields(Settings) if f.name == name)


def check_max_seq_length(max_seq_length: int, model_positions: int, model_name: str) -> None:
    """Refuse a max_seq_length the model has no position embeddings for."""
    if max_seq_length > model_positions:
        raise NlpbookError(
            f"max_seq_length={max_seq_length}: 모델 {model_name}의 최대 길이 {model_positions}보다 깁니다. "
            f"{model_positions} 이하로 줄이세요.",
            f"max_seq_length={max_seq_length} exceeds the {model_positions} positions of {model_name}: "
            f"use {model_positions} or less.",
        )


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise NlpbookError(
            f"{name}={value!r}: 지원하지 않는 값입니다. 다음 중 하나를 쓰세요: {', '.join(allowed)}",
            f"{name}={value!r} is not supported; use one of: {', '.join(allowed)}",
        )


def _check_positive(name, value):
    if not value > 0:
        raise NlpbookError(
            f"{name}={value}: 0보다 커야 합니다.",
            f"{name}={value} must be greater than 0.",
        )
