"""The course's training settings in one validated dataclass (book: code 3-3).

The defaults are the book's. A bad value is refused, named, when the settings are made, not twenty minutes into
training. The command line's `train` flags are generated from these fields (cli.settings_flags).
"""

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

from .corpora import CORPORA, DEFAULT_CORPUS, get_corpus
from .support.errors import NlpbookError

WORK_DIR = "nlpbook-work"  # the work dir off Colab: the one place its name is written


def setting(default, help: str, *aliases: str):
    """A field with the help text (and short flag names) the command line shows."""
    return field(default=default, metadata={"help": help, "aliases": list(aliases)})


def _per_corpus(attribute: str) -> str:
    return ", ".join(f"{corpus.name}: {getattr(corpus, attribute)}" for corpus in CORPORA.values())


@dataclass
class Settings:
    model_name: str = setting("beomi/kcbert-base", "a hub name, or a folder written by save_pretrained", "--model")
    corpus: str = setting(DEFAULT_CORPUS, f"one of {', '.join(CORPORA)} (see corpora/__init__.py)")
    work_dir: str = setting(WORK_DIR, "corpus, caches and runs live here (on Drive in Colab)")
    data_dir: str = setting("", "the corpus folder (downloaded if missing); empty means the corpus's own folder "
                                f"under WORK_DIR ({_per_corpus('data_folder')})")
    output_dir: str = setting("", "metrics.json, best/ and checkpoints/; empty means the corpus's own folder under "
                                  f"WORK_DIR/runs ({_per_corpus('run_folder')})")
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
    num_nodes: int = setting(1, "machines, each with DEVICES GPUs; a cluster (SLURM, torchrun) starts their processes")
    checkpoint_every_n_steps: int = setting(
        1000, "write checkpoints/last.ckpt every N optimizer steps (and at each epoch end)", "--checkpoint-every")
    length_grouped: bool = setting(False, "batch pairs of similar length together (less padding, still shuffled)")
    compile: Literal["auto", "on", "off"] = setting("auto", "torch.compile; auto: on with an A100/L4/H100 or newer GPU")

    def __post_init__(self):
        get_corpus(self.corpus)
        allowed = {name: ", ".join(choices(name)) for name in ("schedule", "accelerator", "precision", "compile")}
        positive = ("learning_rate", "batch_size", "epochs", "max_seq_length", "devices", "num_nodes",
                    "checkpoint_every_n_steps")
        for name, wrong, ko, en in (  # the first one wrong is reported
                *((name, getattr(self, name) not in choices(name), f"지원하지 않는 값입니다. 다음 중 하나를 쓰세요: {values}",
                   f"is not supported; use one of: {values}") for name, values in allowed.items()),
                ("learning_rate", not math.isfinite(self.learning_rate), "유한한 수여야 합니다(책은 5e-5)",
                 "must be a finite number (the book uses 5e-5)"),
                ("seed", not 0 <= self.seed < 2**32, f"0 이상 {2**32 - 1} 이하의 정수를 쓰세요(책은 7)",
                 f"is out of range: use a whole number from 0 to {2**32 - 1} (the book uses 7)"),
                *((name, not getattr(self, name) > 0, "0보다 커야 합니다", "must be greater than 0") for name in positive),
                ("max_seq_length", self.max_seq_length < 8, "너무 짧습니다. 8 이상(책은 64)을 쓰세요",
                 "is too short: use 8 or more (the book uses 64)"),
                ("max_steps", self.max_steps == 0 or self.max_steps < -1, "양수 또는 -1(전체 에폭)을 주세요",
                 "is not allowed: give a positive number, or -1 for all epochs")):
            if wrong:
                raise NlpbookError(f"{name}={getattr(self, name)!r}: {ko}.", f"{name}={getattr(self, name)!r} {en}.")


class Derived(str):
    """A folder derived from the corpus: given back to Settings (as dataclasses.replace does), it is derived anew."""


def _folder(name: str, derive) -> property:
    """The folder as given, or the corpus's own, derived on every read: replace(settings, corpus=...) follows."""
    def read(settings):
        return vars(settings)[name] or Derived(Path(settings.work_dir) / derive(get_corpus(settings.corpus)))

    def write(settings, value):
        vars(settings)[name] = "" if isinstance(value, Derived) else str(value)

    return property(read, write)


# Set after @dataclass has read the fields' defaults (""): the given value is kept, and reading derives.
Settings.data_dir = _folder("_data_dir", lambda corpus: corpus.data_folder)
Settings.output_dir = _folder("_output_dir", lambda corpus: Path("runs") / corpus.run_folder)


def choices(name: str) -> tuple:
    """The values a Literal-typed setting allows, e.g. choices("schedule")."""
    return get_args(Settings.__annotations__[name])


def default(name: str):
    """A setting's default value, e.g. default("max_seq_length") == 64."""
    return next(f.default for f in fields(Settings) if f.name == name)


def check_max_seq_length(max_seq_length: int, model_positions: int, model_name: str) -> None:
    """Refuse a max_seq_length the model has no position embeddings for."""
    if max_seq_length > model_positions:
        raise NlpbookError(f"max_seq_length={max_seq_length}: 모델 {model_name}의 최대 길이 {model_positions}보다 "
                           f"깁니다. {model_positions} 이하로 줄이세요.", f"max_seq_length={max_seq_length} exceeds "
                           f"the {model_positions} positions of {model_name}: use {model_positions} or less.")
