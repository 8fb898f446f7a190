"""What every notebook starts from: the book's settings, or the offline sample in smoke mode.

The notebooks write the book's values out (model, max_seq_length 64, batch
32, learning rate 5e-5, 5 epochs, seed 7) and get a `Settings` back. The
headless tests run the same notebooks with NLPBOOK_SMOKE=1: then the bundled
sample corpus and a tiny model take the place of kcbert-base and KLUE-NLI,
with the values that let a tiny model learn in seconds.
"""

import os
from pathlib import Path

from .runtime import resolve_work_dir
from .sample import sample_settings
from .settings import Settings

SMOKE_LINE = "NLPBOOK_SMOKE=1: 번들 샘플 말뭉치와 작은 모델로 빠르게 실행합니다 / running on the bundled sample and a tiny model"
SAMPLE_DECIDES = ("model_name", "data_dir", "learning_rate", "batch_size", "epochs")  # what a tiny model needs its own of
SMOKE_EPOCHS = 8  # enough for the tiny model to learn the sample


def smoke_mode() -> bool:
    """True when NLPBOOK_SMOKE=1: notebooks then use the bundled sample and a tiny model."""
    return os.environ.get("NLPBOOK_SMOKE", "") == "1"


def local_work_dir() -> Path:
    """A work dir on this machine's own disk, never Google Drive: for a notebook that keeps nothing (04).

    NLPBOOK_WORK_DIR overrides it, as it overrides resolve_work_dir(); in
    Colab the default lands in /content/nlpbook-work, gone with the runtime.
    """
    return Path(os.environ.get("NLPBOOK_WORK_DIR") or "nlpbook-work")


def course_settings(**values) -> Settings:
    """Settings from the values a notebook gives (book: code 3-3), with the work dir on Drive in Colab.

    In smoke mode the sample decides the model, data, learning rate, batch
    size and epochs; every other value given (schedule, output_dir, ...) is kept.
    """
    work_dir = values.pop("work_dir", None) or resolve_work_dir()
    if smoke_mode():
        print(SMOKE_LINE)
        kept = {name: value for name, value in values.items() if name not in SAMPLE_DECIDES}
        return sample_settings(work_dir, **{"epochs": SMOKE_EPOCHS, **kept})
    return Settings(work_dir=str(work_dir), **values)
