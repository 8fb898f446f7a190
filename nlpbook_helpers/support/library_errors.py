"""When a library breaks under a run: which one, which version, and a pin that undoes the upgrade.

Colab upgrades packages under the learner (transformers 5.25 broke the TPU). An API break raised in a dependency's
code (never torch's: Colab's own) gets a pin inside our declared range; CUDA out of memory its own line; else none.
"""

import importlib.metadata
import re
import sys
from pathlib import Path

from .errors import NlpbookError
from .korean import josa

NEVER_PIN = {"torch", "torch-xla", "nlpbook-helpers"}  # Colab's own builds, and this package
NOTE_MARK = "[nlpbook]"
API_BREAKS = (AttributeError, ImportError, NameError)  # what old code meets where a release renamed or moved a name
SIGNATURE_MISMATCH = re.compile(r"argument|positional|keyword")  # a TypeError about a call, not about a value


def explain_library_error(exception: BaseException, settings=None) -> str | None:
    """Add the note to `exception` (and return it) when a downgrade, or a smaller batch (`settings`), could help."""
    if any(str(note).startswith(NOTE_MARK) for note in getattr(exception, "__notes__", ())):
        return None  # already explained (by the training callback, before the command line saw it)
    if (type(exception).__name__ == "OutOfMemoryError" and type(exception).__module__.startswith("torch")) or (
            isinstance(exception, RuntimeError) and "CUDA out of memory" in str(exception)):  # torch's, unimported
        now_ko = now_en = ""
        if settings is not None:
            now_ko = f" 지금 batch_size={settings.batch_size}, max_seq_length={settings.max_seq_length}입니다."
            now_en = f" (now batch_size={settings.batch_size}, max_seq_length={settings.max_seq_length})"
        note = (f"{NOTE_MARK} GPU 메모리가 부족합니다. batch_size나 max_seq_length를 줄여 다시 실행하세요.{now_ko}\n"
                f"{NOTE_MARK} The GPU ran out of memory: lower batch_size or max_seq_length{now_en} and run again.")
    elif found := api_break_in_dependency(exception):
        note = downgrade_note(*found)
    else:
        return None
    if hasattr(exception, "add_note"):  # Python 3.11+: printed under the message, in a notebook too
        exception.add_note(note)
    else:
        print(note, file=sys.stderr)
    return note


def downgrade_note(name: str, version: str, raised_in: str) -> str:
    where = name if raised_in in (None, name) else f"{raised_in} (called by {name})"
    pin = downgrade_pin(name, version)
    if pin is None:  # the lowest version we support already: nothing older to go back to
        return (f"{NOTE_MARK} 이 오류는 {where} 안에서 났습니다({name} {version}, 이 과정이 지원하는 가장 낮은 버전). 과정 저장소에 오류 전체를 알려 주세요.\n"
                f"{NOTE_MARK} This error was raised inside {where} ({name} {version}, the lowest version this course "
                "supports): please report it, with the whole error, to the course repository.")
    command = f'pip install "{pin}"'
    return (f"{NOTE_MARK} 이 오류는 {where} 안에서 났습니다({name} {version}). 어제까지 되던 셀이라면 Colab이 "
            f"{josa(name, '을/를')} 새 버전으로 올린 탓일 수 있습니다: `{command}`로 한 단계 낮추고 런타임을 다시 시작한 "
            f"뒤 이 셀을 다시 실행하세요.\n{NOTE_MARK} This error was raised inside {where} ({name} {version}). If this "
            f"cell ran before, a new release may have broken it: run `{command}`, restart the runtime, run it again.")


def downgrade_pin(name: str, version: str) -> str | None:
    """`name` below `version` inside our declared range (pip refuses a pin outside it), or None if nothing is older."""
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
    """(our dependency, its version, the library it was raised in) for an API break raised in a library's code,
    read from the innermost frame out; a frame of this package first (a check of ours in Lightning's loop): none."""
    if isinstance(exception, (NlpbookError, KeyboardInterrupt)) or not (
            isinstance(exception, API_BREAKS)
            or (isinstance(exception, TypeError) and SIGNATURE_MISMATCH.search(str(exception)))):
        return None  # a value, a file, the disk or the memory: no older release fixes those
    from packaging.utils import canonicalize_name
    ours, owners = our_dependencies(), importlib.metadata.packages_distributions()
    raised_in, frames, traceback = None, [], exception.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    for frame in reversed(frames):
        module = frame.f_globals.get("__name__", "").split(".")[0]
        if module == __name__.split(".")[0]:  # a frame of this package
            return None
        distribution = (owners.get(module) or [None])[0]
        parts = Path(frame.f_code.co_filename).parts
        if distribution is None or not ("site-packages" in parts or "dist-packages" in parts):
            continue
        raised_in = raised_in or distribution
        if canonicalize_name(distribution) in ours:
            return distribution, importlib.metadata.version(distribution), raised_in
    return None


def our_dependencies() -> dict[str, str]:
    """{normalized name: requirement} from this package's metadata, but what must never be pinned."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    try:
        requirements = importlib.metadata.requires("nlpbook-helpers") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    found = {canonicalize_name(Requirement(line).name): line.split(";")[0].strip()
             for line in requirements if "extra ==" not in line}
    return {name: line for name, line in found.items() if name not in NEVER_PIN}
