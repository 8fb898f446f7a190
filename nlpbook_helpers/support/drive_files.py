"""Write, replace and delete files without filling the learner's Google Drive; say plainly when a folder fails.

On Colab's Drive a file deleted or renamed over sits in the Trash at full size for 30 days (a 15 GB quota), so each
is first truncated to 0 bytes (a reader must then accept a complete `<name>.part` in its place). A name may be a
link: a link is removed, never its target emptied, and files are written under a fresh name (`open_new`).
"""

import errno
import json
import os
import re
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from .errors import NlpbookError

NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # Windows has none (and no links a user makes by accident)


def empty(path: Path) -> None:
    """Truncate a regular file whose one name is `path` to 0 bytes; a link, FIFO, device or nothing is left alone."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return
        # O_NOFOLLOW: a link swapped in after the lstat is not followed; O_NONBLOCK: a FIFO is not waited on
        fd = os.open(path, os.O_WRONLY | NO_FOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:  # gone, a link, or not ours to open: nothing to empty
        return
    try:
        found = os.fstat(fd)
        if stat.S_ISREG(found.st_mode) and found.st_nlink <= 1:  # <=: a FUSE mount may report 0
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def open_new(path: Path, mode: str = "wb", **options):
    """Open `path` as a new file (O_EXCL), whatever was at that name removed first: never written through a link."""
    if os.path.lexists(path):
        remove_file(path)
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o666), mode, **options)


def replace_file(new: Path, final: Path) -> None:
    empty(final)
    os.replace(new, final)


def remove_file(path: Path) -> None:
    empty(path)
    Path(path).unlink(missing_ok=True)


def remove_tree(folder: Path) -> None:
    """Delete a folder, emptying every file in it first; a link in its place is removed, not followed."""
    if os.path.islink(folder):
        return os.unlink(folder)
    for parent, _, names in os.walk(folder):
        for name in names:
            empty(Path(parent) / name)
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def atomic_write(path: Path, mode: str = "wb", what: tuple[str, str] = ("파일을", "the file"), shared: bool = False,
                 **options):
    """Write `path` through `<name>.part` (`<name>.<pid>.part` if `shared` by DDP ranks), fsynced and renamed: a
    reader finds the old file or the whole new one. On any error the .part is removed; a full disk is one line
    naming `what` (Korean with its particle, English)."""
    path = Path(path)
    part = path.with_name(f"{path.name}.{os.getpid()}.part" if shared else f"{path.name}.part")
    try:
        with open_new(part, mode, **options) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
    except BaseException as error:  # Ctrl-C included: no half file stays behind
        remove_file(part)
        if isinstance(error, Exception) and not isinstance(error, NlpbookError) and ran_out_of_space(error):
            raise NlpbookError(f"{path.parent}: {what[0]} 쓰는 중에 공간이 모자랐습니다. 이전 것은 그대로 있습니다. "
                               "Drive에서 파일을 지우고 다시 실행하세요.", f"{path.parent}: ran out of space while "
                               f"writing {what[1]}; the previous one is intact. Free Drive space, rerun.") from None
        raise
    replace_file(part, path)


def write_json(path: Path, data) -> None:
    """A small JSON file, written atomically. NaN and inf are refused: they are not JSON."""
    text = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)
    with atomic_write(path, "w", encoding="utf-8") as file:
        file.write(text)


def replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place through `<name>.old`: a kill leaves one complete copy (check_best_export)."""
    old = final.with_name(final.name + ".old")
    remove_tree(old)
    if os.path.lexists(final):  # a link to nothing counts: renaming the folder over it would fail
        os.replace(final, old)
    os.replace(new, final)
    remove_tree(old)


def check_writable(path: Path, what_ko: str = "작업 폴더", what_en: str = "the work dir", flag: str = "") -> None:
    """Make the folder and write a probe in it now, not at the first checkpoint, or raise `cannot_write`."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        open_new(probe).close()  # never through a link left at that name
        remove_file(probe)
    except OSError as error:
        if isinstance(error, FileExistsError) or error.errno == errno.ENOTDIR:
            error.strerror = "a file of that name is in the way"
        raise cannot_write(path, error, what_ko, what_en, flag) from None


def cannot_write(folder: Path, error: OSError, what_ko: str, what_en: str, flag: str = "") -> NlpbookError:
    """One line for a folder that cannot be written; `flag` (such as --data-dir) is how to choose another."""
    other_ko, other_en = (f"다른 폴더({flag})를", f"another folder ({flag})") if flag else ("다른 폴더를", "another folder")
    if ran_out_of_space(error):
        fix_ko, fix_en = f"공간을 비우거나 {other_ko} 고르세요.", f"free some space or choose {other_en}."
    else:
        fix_ko, fix_en = f"{other_ko} 고르거나 Drive 연결을 확인하세요.", f"choose {other_en} or check the Drive mount."
    return NlpbookError(f"{what_ko} {folder}에 쓸 수 없습니다({error.strerror}). {fix_ko}",
                        f"Cannot write to {what_en} {folder} ({error.strerror}): {fix_en}")


def ensure_free_space(folder: Path, needed: int, what_ko: str, what_en: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise NlpbookError(f"{folder}에 공간이 부족합니다: {what_ko}에 {size(needed)}가 필요한데 {size(free)}만 남았습니다. "
                           "Drive에서 파일을 지우세요.", f"Not enough space in {folder}: {what_en} needs {size(needed)}, "
                           f"only {size(free)} is free. Free some space on Drive.")


def ran_out_of_space(error: Exception, folder: Path | None = None, needed: int = 0) -> bool:
    """The OS says the disk is full (also in safetensors' and torch.save's words), or `folder` has under `needed`."""
    code = getattr(error, "errno", None)
    if code is None and isinstance(error.__context__, OSError):  # torch.save: "unexpected pos", over the OSError
        code = error.__context__.errno
    if code is None and (found := re.search(r"\(os error (\d+)\)|Os \{ code: (\d+)", str(error))):
        code = int(found.group(1) or found.group(2))
    return code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or (needed > 0 and shutil.disk_usage(folder).free < needed)


def size(n: int) -> str:
    """0.5 GB, or 3.2 MB where GB would read 0.0."""
    return f"{n / 2**30:.1f} GB" if n >= 2**30 / 10 else f"{n / 2**20:.1f} MB"
