"""What a rerun may continue: the run's fingerprint in last.ckpt, and the checks before resuming.

In Colab the common rerun is a learner who changed a setting in 07 and ran
the fit cell again. Lightning would restore the old optimizer, learning rate
and schedule from last.ckpt and mix them with the new settings, silently.
So last.ckpt carries the settings that define the run, and a rerun with
other ones is refused before training, naming what changed. Only `epochs`
and `max_steps` may change: a larger `epochs` continues the same run.
"""

from pathlib import Path

import torch

from .drive_files import remove_file, replace_file
from .errors import NlpbookError
from .corpora import corpus_identity

RUN_KEY = "nlpbook_run"  # where last.ckpt keeps run_fingerprint


def run_fingerprint(settings, precision: str) -> dict:
    """The settings that define a run. A checkpoint continues only with the same ones; epochs and max_steps may change."""
    return {
        "model_name": settings.model_name,
        "corpus": settings.corpus,
        "data": corpus_identity(settings.corpus, settings.data_dir),
        "max_seq_length": settings.max_seq_length,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "schedule": settings.schedule,
        "seed": settings.seed,
        "length_grouped": settings.length_grouped,
        "precision": precision,
        "devices": settings.devices,
        "num_nodes": settings.num_nodes,
    }


def check_resume(settings, precision: str) -> Path | None:
    """checkpoints/last.ckpt if this run continues from it, None for a fresh start.

    A save interrupted after the old file was emptied is finished first. A
    damaged checkpoint, or one written with other settings, is refused with
    what to do: a silent resume would mix the old optimizer and schedule with
    the new settings.
    """
    path = Path(settings.output_dir) / "checkpoints" / "last.ckpt"
    finish_interrupted_save(path)
    if not path.exists():
        return None
    saved = load_checkpoint(path).get(RUN_KEY)
    ways_out_ko = "다른 출력 폴더(output_dir)를 쓰거나, 이 파일을 지우고 처음부터 다시 학습하세요."
    ways_out_en = "use another output_dir, or delete that file to start over."
    if saved is None:
        raise NlpbookError(
            f"{path}: 학습 설정 기록이 없는 체크포인트(이전 버전이 쓴 것)라 같은 학습인지 알 수 없습니다. " + ways_out_ko,
            f"{path} has no record of its run's settings (an older version wrote it), so it cannot be continued: "
            + ways_out_en,
        )
    current = run_fingerprint(settings, precision)
    changed = ", ".join(f"{name} {saved.get(name)!r} → {value!r}"
                        for name, value in current.items() if saved.get(name) != value)
    if changed:
        raise NlpbookError(
            f"{path}: 지금과 다른 설정으로 하던 학습의 체크포인트입니다({changed}). 이어서 학습할 수 없으니 " + ways_out_ko,
            f"{path} was written by a run with other settings ({changed}), so it cannot continue this one: "
            + ways_out_en,
        )
    return path


def finish_interrupted_save(path: Path) -> None:
    """A complete `.part` is the newest checkpoint: put it in place. A half-written one is removed."""
    part = path.with_name(path.name + ".part")
    if not part.exists():
        return
    try:
        load_checkpoint(part)
    except NlpbookError:
        remove_file(part)
        return
    replace_file(part, path)


def load_checkpoint(path: Path) -> dict:
    """The checkpoint, its tensors mapped rather than read; a damaged one is reported, never loaded."""
    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as error:  # a truncated zip, a bad pickle, an empty file: all mean "damaged"
        raise NlpbookError(
            f"{path}: 손상된 체크포인트입니다({type(error).__name__}). 이 파일을 지우면 처음부터 다시 학습합니다.",
            f"The checkpoint {path} is damaged ({type(error).__name__}); delete it to train from the start.",
        ) from error
