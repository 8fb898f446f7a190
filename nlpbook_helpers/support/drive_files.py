"""Replace and delete files without filling the learner's Google Drive.

On Colab's Drive mount, a file that is deleted or renamed over is not freed:
it goes to Drive's Trash at full size and stays there for 30 days, counting
against the learner's quota (15 GB on a free account). A checkpoint
replaced every 1,000 steps would fill it within two runs of the course. So
every file this package replaces or deletes under the work dir is first
truncated to 0 bytes, and only an empty file reaches the Trash.

The price is a moment in which the old file is already empty and the new one
is still called `<name>.part`: whoever reads the file back must accept a
complete `.part` in its place (see checkpoints.resume_checkpoint), or, for
a small JSON file, write it again from what it was written from.

Output folders live on a Drive that may be shared, so a name in them may be
a symbolic link (or a hard link) to a file elsewhere. Emptying acts only on
a regular file with no other name; a link is removed, never its target; and
every file is written under a fresh name (`open_new`), never through a link
left where the new file goes. Nothing outside the folder is written or emptied.
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
    """Truncate a file to 0 bytes before it is removed or renamed over.

    Only a regular file whose one name is `path` is emptied: a symbolic link,
    a hard link, a FIFO or a device is left as it is (its removal then acts
    on the name alone), and nothing happens to what does not exist.
    """
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
    """Open `path` for writing as a new file: whatever was at that name (a stale file, a link) is removed first,
    and the file is created with O_EXCL, so a write never goes through a link to somewhere else."""
    if os.path.lexists(path):
        remove_file(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o666)
    return open(fd, mode, **options)


def replace_file(new: Path, final: Path) -> None:
    """Rename `new` over `final`, emptying `final` first."""
    empty(final)
    os.replace(new, final)


def remove_file(path: Path) -> None:
    empty(path)
    Path(path).unlink(missing_ok=True)


def remove_tree(folder: Path) -> None:
    """Delete a folder, emptying every file in it first; a link in its place is removed, not followed."""
    if os.path.islink(folder):
        os.unlink(folder)
        return
    for parent, _, names in os.walk(folder):
        for name in names:
            empty(Path(parent) / name)
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def atomic_write(path: Path, mode: str = "wb", what: tuple[str, str] = ("파일을", "the file"), shared: bool = False,
                 **options):
    """Write `path` through `<name>.part`, fsynced, then renamed into place: a reader (or a rerun after a kill)
    finds the old file or the whole new one. On any error the .part is removed; a full disk is one line naming
    `what` (Korean with its particle, English). shared: several processes (DDP ranks) may write the same file,
    so each writes its own `<name>.<pid>.part`."""
    path = Path(path)
    part = path.with_name(f"{path.name}.{os.getpid()}.part" if shared else f"{path.name}.part")
    try:
        with open_new(part, mode, **options) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
    except BaseException as error:  # Ctrl-C included: no half file stays behind
        remove_file(part)
        if isinstance(error, Exception) and ran_out_of_space(error, path.parent, 0):
            raise NlpbookError(
                f"{path.parent}: {what[0]} 쓰는 중에 공간이 모자랐습니다. 이전 것은 그대로 있습니다. Drive에서 파일을 지우고 "
                "다시 실행하세요.",
                f"{path.parent}: ran out of space while writing {what[1]}; the previous one is intact. Free some "
                "space on Drive and run again.",
            ) from None
        raise
    replace_file(part, path)


def write_json(path: Path, data) -> None:
    """A small JSON file, written atomically. NaN and inf are refused: they are not JSON."""
    text = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)
    with atomic_write(path, "w", encoding="utf-8") as file:
        file.write(text)


def replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place; a kill at any moment leaves one complete copy.

    The old folder is moved aside whole (`<name>.old`) and emptied only once
    the new one is in place; checkpoints.check_best_export puts it back if a
    kill fell between the two renames.
    """
    old = final.with_name(final.name + ".old")
    remove_tree(old)
    if os.path.lexists(final):  # a link to nothing counts: renaming the folder over it would fail
        os.replace(final, old)
    os.replace(new, final)
    remove_tree(old)


def ensure_free_space(folder: Path, needed: int, what_ko: str, what_en: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise NlpbookError(
            f"{folder}에 공간이 부족합니다: {what_ko}에 {size(needed)}가 필요한데 {size(free)}만 남았습니다. Drive에서 "
            "파일을 지우세요.",
            f"Not enough space in {folder}: {what_en} needs {size(needed)}, only {size(free)} is free. Free some "
            "space on Drive.",
        )


def ran_out_of_space(error: Exception, folder: Path, needed: int) -> bool:
    """Whether a write failed for want of room: the OS says so (safetensors words it "(os error 28)", or
    "Os { code: 28" in older ones; torch.save raises its own error over the OSError), or, asked before the
    half-written file is removed, less than `needed` is left."""
    code = getattr(error, "errno", None)
    if code is None and isinstance(error.__context__, OSError):  # torch.save: "unexpected pos", raised over the OSError
        code = error.__context__.errno
    if code is None and (found := re.search(r"\(os error (\d+)\)|Os \{ code: (\d+)", str(error))):  # newer, older
        code = int(found.group(1) or found.group(2))
    return code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or shutil.disk_usage(folder).free < needed


def size(n: int) -> str:
    """0.5 GB, or 3.2 MB where GB would read 0.0."""
    return f"{n / 2**30:.1f} GB" if n >= 2**30 / 10 else f"{n / 2**20:.1f} MB"
