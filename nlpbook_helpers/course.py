"""What every notebook starts from: the book's settings (code 3-3), with the work dir on Drive in Colab.

The notebooks write the book's values out and get a `Settings` back, as the book's `ClassificationTrainArguments`
gave its `args`; under NLPBOOK_SMOKE=1 (the headless tests), with the offline stand-ins.
"""

import os
from pathlib import Path

from .runtime import resolve_work_dir
from .sample import build_kcbert_standin, sample_settings
from .settings import WORK_DIR, Settings, default

SMOKE_LINE = ("NLPBOOK_SMOKE=1: 번들 샘플 말뭉치와 작은 모델로 빠르게 실행합니다 / running on the bundled sample and a tiny model")
STANDIN_LINE = ("NLPBOOK_SMOKE=1: 번들 샘플 말뭉치와 kcbert-base의 어휘·모양(무작위 가중치)으로 실행합니다 / running on the "
                "bundled sample with kcbert-base's vocabulary and shape (random weights)")
SAMPLE_DECIDES = ("model_name", "data_dir", "learning_rate", "batch_size", "epochs")  # a tiny model's own
SMOKE_EPOCHS = 8  # enough for the tiny model to learn the sample
BOOK_MODEL = "beomi/kcbert-base"
TRAINING_VALUES = ("learning_rate", "epochs")  # a lesson that writes these out trains (07), or shows them (02)


def course_settings(work_dir=None, **values) -> Settings:
    """The run's settings from the values a notebook writes out (book: code 3-3); the rest keep the book's."""
    work_dir = work_dir or resolve_work_dir()
    if os.environ.get("NLPBOOK_SMOKE", "") == "1":  # the headless tests only: see smoke_settings below
        return smoke_settings(work_dir, values)
    return Settings(work_dir=str(work_dir), **values)


def local_work_dir() -> Path:
    """A work dir on this machine's disk, never Drive, for a notebook that keeps nothing (04); or NLPBOOK_WORK_DIR."""
    return Path(os.environ.get("NLPBOOK_WORK_DIR") or WORK_DIR)


def smoke_settings(work_dir, values: dict) -> Settings:
    """The sample in place of KLUE-NLI, and for kcbert-base either its stand-in (a lesson that never trains: 04-06)
    or the tiny model. SMOKE_LINE or STANDIN_LINE is the canary the tests look for (docs/notebooks.md)."""
    if values.get("model_name") == BOOK_MODEL and not any(name in values for name in TRAINING_VALUES):
        print(STANDIN_LINE)
        book = {name: default(name) for name in ("batch_size", "learning_rate", "epochs")}
        standin = build_kcbert_standin(Path(work_dir) / "kcbert-base")
        return sample_settings(work_dir, **{**book, **values, "model_name": str(standin), "data_dir": None})
    print(SMOKE_LINE)
    kept = {name: value for name, value in values.items() if name not in SAMPLE_DECIDES}
    return sample_settings(work_dir, **{"epochs": SMOKE_EPOCHS, **kept})
