"""When a library breaks under a run: which one, which version, and a pin that undoes the upgrade.

Our requirements are open ranges, and Colab upgrades its packages under the
learner: a new release can break a notebook that ran yesterday. transformers
5.25 did, on the TPU (its new Hub-kernels default rejected the 'xla' device,
deep inside Lightning's sanity check). We cannot foresee the next break, but
when one comes we can say where it happened and how to go back a release.

Only where going back can help: `explain_library_error` adds its note (Korean
and English, printed under the error message) when the error is an API break,
an AttributeError, ImportError, NameError or a TypeError about a call's
arguments, raised inside the code of one of our dependencies (torch and
torch_xla excepted: Colab's own builds must never be reinstalled). Bad input,
a model folder that does not fit, a full disk or memory get no note: no
downgrade fixes them. CUDA running out of memory gets its own line instead:
what to lower, and what it is now. The pin it suggests lies inside our own
declared range, so pip can install it alongside everything else we require.
"""

import importlib.metadata
import re
import sys
from pathlib import Path

from .errors import NlpbookError
from .korean import josa

NEVER_PIN = {"torch", "torch-xla", "nlpbook-helpers"}  # Colab's own builds, and this package
NOTE_MARK = "[nlpbook]"
# What a release that renamed, moved or re-signed something raises where old code calls it.
API_BREAKS = (AttributeError, ImportError, NameError)
SIGNATURE_MISMATCH = re.compile(r"argument|positional|keyword")  # a TypeError about a call, not about a value


def __getattr__(name: str):
    """ExplainLibraryErrors, built on first use: `predict` and `serve` import this module without Lightning."""
    if name != "ExplainLibraryErrors":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from pytorch_lightning.callbacks import Callback

    class ExplainLibraryErrors(Callback):
        """In a training run (a notebook's trainer.fit too): the same note on any error a library raises."""

        def __init__(self, settings=None):
            self.settings = settings  # its batch_size and max_seq_length, named when the GPU runs out of memory

        def on_exception(self, trainer, pl_module, exception):
            explain_library_error(exception, self.settings)

    globals()[name] = ExplainLibraryErrors
    return ExplainLibraryErrors


def explain_library_error(exception: BaseException, settings=None) -> str | None:
    """Add the note to `exception` (and return it) when a downgrade, or a smaller batch, could help.

    `settings` (optional): what the run used, for the out-of-memory line.
    """
    if any(str(note).startswith(NOTE_MARK) for note in getattr(exception, "__notes__", ())):
        return None  # already explained (by the training callback, before the command line saw it)
    if is_cuda_out_of_memory(exception):
        note = out_of_memory_note(settings)
    else:
        found = api_break_in_dependency(exception)
        if found is None:
            return None
        note = downgrade_note(*found)
    if hasattr(exception, "add_note"):  # Python 3.11+: printed under the message, in a notebook too
        exception.add_note(note)
    else:
        print(note, file=sys.stderr)
    return note


def is_cuda_out_of_memory(exception: BaseException) -> bool:
    """torch.OutOfMemoryError (torch.cuda.OutOfMemoryError), read without importing torch."""
    return (type(exception).__name__ == "OutOfMemoryError" and type(exception).__module__.startswith("torch")) or (
        isinstance(exception, RuntimeError) and "CUDA out of memory" in str(exception))


def out_of_memory_note(settings=None) -> str:
    now_ko = now_en = ""
    if settings is not None:
        now_ko = f" 지금 batch_size={settings.batch_size}, max_seq_length={settings.max_seq_length}입니다."
        now_en = f" (now batch_size={settings.batch_size}, max_seq_length={settings.max_seq_length})"
    return (
        f"{NOTE_MARK} GPU 메모리가 부족합니다. batch_size나 max_seq_length를 줄여 다시 실행하세요.{now_ko}\n"
        f"{NOTE_MARK} The GPU ran out of memory: lower batch_size or max_seq_length{now_en} and run again."
    )


def downgrade_note(name: str, version: str, raised_in: str) -> str:
    where = name if raised_in in (None, name) else f"{raised_in} (called by {name})"
    pin = downgrade_pin(name, version)
    if pin is None:  # the lowest version we support already: nothing older to go back to
        return (
            f"{NOTE_MARK} 이 오류는 {where} 안에서 났습니다({name} {version}, 이 과정이 지원하는 가장 낮은 버전). "
            "과정 저장소에 오류 전체를 알려 주세요.\n"
            f"{NOTE_MARK} This error was raised inside {where} ({name} {version}, the lowest version this course "
            "supports): please report it, with the whole error, to the course repository."
        )
    command = f'pip install "{pin}"'
    return (
        f"{NOTE_MARK} 이 오류는 {where} 안에서 났습니다({name} {version}). 어제까지 되던 셀이라면 Colab이 {josa(name, '을/를')} "
        f"새 버전으로 올린 탓일 수 있습니다: `{command}`로 한 단계 낮추고 런타임을 다시 시작한 뒤 이 셀을 다시 실행하세요.\n"
        f"{NOTE_MARK} This error was raised inside {where} ({name} {version}). If this cell ran before, a new release "
        f"may have broken it: run `{command}`, restart the runtime and run the cell again."
    )


def downgrade_pin(name: str, version: str) -> str | None:
    """`name` below `version` and inside the range we declare for it, or None when the range holds nothing older.

    A pin outside our range (`transformers<5.0` while we require 5) would make pip refuse, or swap this
    package for nothing that works.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    declared = Requirement(our_dependencies().get(canonicalize_name(name), name)).specifier
    lower = [spec for spec in declared if spec.operator in (">=", ">", "==", "~=", "===")]
    if any(Version(spec.version.replace(".*", "")) >= Version(version) for spec in lower):
        return None  # `version` is our lowest allowed: every older release is outside our range
    kept = ",".join(str(spec) for spec in sorted(declared, key=str) if spec.operator not in ("<", "<="))
    return f"{name}{kept + ',' if kept else ''}<{version}"


def api_break_in_dependency(exception: BaseException) -> tuple[str, str, str | None] | None:
    """(our dependency, its version, the library it was raised in) for an API break raised in a library's code.

    The traceback is read from where the error was raised outwards: the standard
    library's frames are passed over; a frame of this package (an NlpbookError, a
    check of ours inside Lightning's loop) means the error is ours, not a library's.
    """
    if isinstance(exception, (NlpbookError, KeyboardInterrupt)):
        return None
    if not (isinstance(exception, API_BREAKS) or
            (isinstance(exception, TypeError) and SIGNATURE_MISMATCH.search(str(exception)))):
        return None  # a value, a file, the disk or the memory: no older release fixes those
    from packaging.utils import canonicalize_name

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
        if canonicalize_name(distribution) in ours:
            return distribution, importlib.metadata.version(distribution), raised_in
    return None


def our_dependencies() -> dict[str, str]:
    """{normalized name: requirement} this package declares (its own metadata), but what must never be pinned."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        requirements = importlib.metadata.requires("nlpbook-helpers") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    found = {canonicalize_name(Requirement(line).name): line.split(";")[0].strip()
             for line in requirements if "extra ==" not in line}
    return {name: line for name, line in found.items() if name not in NEVER_PIN}


def _is_installed_library(filename: str) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in Path(filename).parts)
