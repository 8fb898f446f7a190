"""When a library breaks under a run: which one, which version, and the pin that undoes the upgrade.

Our requirements are open ranges, and Colab upgrades its packages under the
learner: a new release can break a notebook that ran yesterday. transformers
5.25 did, on the TPU (its new Hub-kernels default rejected the 'xla' device,
deep inside Lightning's sanity check). We cannot foresee the next break, but
when one comes we can say where it happened and how to go back one release.

`explain_library_error` reads the traceback, finds the innermost frame in one
of our own dependencies (torch and torch_xla excepted: Colab's own builds must
never be reinstalled), and adds a note to the exception, in Korean and English,
which Python and the notebook print right under the error message.
"""

import importlib.metadata
import sys
from pathlib import Path

from pytorch_lightning.callbacks import Callback

from .errors import NlpbookError
from .korean import josa

NEVER_PIN = {"torch", "torch-xla", "torch_xla", "nlpbook-helpers"}  # Colab's own builds, and this package


class ExplainLibraryErrors(Callback):
    """In a training run (a notebook's trainer.fit too): the same note on any error a library raises."""

    def on_exception(self, trainer, pl_module, exception):
        explain_library_error(exception)


def explain_library_error(exception: BaseException) -> str | None:
    """Add the note to `exception` (and return it) when it was raised inside one of our dependencies."""
    found = innermost_dependency(exception)
    if found is None:
        return None
    name, version, raised_in = found
    where = name if raised_in in (None, name) else f"{raised_in} (called by {name})"
    pin = f'pip install "{name}<{version}"'
    note = (
        f"[nlpbook] 이 오류는 {where} 안에서 났습니다({name} {version}). 어제까지 되던 셀이라면 Colab이 {josa(name, '을/를')} "
        f"새 버전으로 올린 탓일 수 있습니다: `{pin}`로 한 단계 낮추고 런타임을 다시 시작한 뒤 이 셀을 다시 실행하세요."
        f"\n[nlpbook] This error was raised inside {where} ({name} {version}). If this cell ran before, a new release "
        f"may have broken it: run `{pin}`, restart the runtime and run the cell again."
    )
    if hasattr(exception, "add_note"):  # Python 3.11+: printed under the message, in a notebook too
        exception.add_note(note)
    else:
        print(note, file=sys.stderr)
    return note


def innermost_dependency(exception: BaseException) -> tuple[str, str, str | None] | None:
    """(our dependency, its version, the library the error was raised in), or None when our own code raised it.

    The traceback is read from where the error was raised outwards: the standard
    library's frames are passed over; a frame of this package (an NlpbookError, a
    check of ours inside Lightning's loop) means the error is ours, not a library's.
    """
    if isinstance(exception, (NlpbookError, KeyboardInterrupt)):
        return None
    ours = our_dependencies()
    owners = importlib.metadata.packages_distributions()
    raised_in = None
    frames = []
    traceback = exception.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    for frame in reversed(frames):
        module = frame.f_globals.get("__name__", "")
        if module.split(".")[0] == __package__:
            return None
        distribution = (owners.get(module.split(".")[0]) or [None])[0]
        if distribution is None or not _is_installed_library(frame.f_code.co_filename):
            continue
        raised_in = raised_in or distribution
        if distribution.lower() in ours:
            return distribution, importlib.metadata.version(distribution), raised_in
    return None


def our_dependencies() -> set[str]:
    """The distributions this package requires (its own metadata), without those that must never be pinned here."""
    try:
        requirements = importlib.metadata.requires("nlpbook-helpers") or []
    except importlib.metadata.PackageNotFoundError:
        return set()
    names = {_requirement_name(line) for line in requirements if "extra ==" not in line}
    return {name.lower() for name in names} - NEVER_PIN


def _requirement_name(line: str) -> str:
    for stop in "<>=!~[; ":
        line = line.split(stop)[0]
    return line


def _is_installed_library(filename: str) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in Path(filename).parts)
