"""Count what Google Drive would put in its Trash: the content of every file deleted or renamed over.

On Colab's Drive mount such a file keeps its full size in the Trash for 30
days. `TrashCounter(root)` patches os.replace, os.rename, os.unlink,
os.remove and shutil.rmtree, routes pathlib's unlink, rename and replace
through them (Python 3.11 does that itself, 3.10 does not), and records,
for every path under `root`, how many bytes of content the call threw away. Used by tests/test_drive.py, and on its own to
measure a run:

    python tests/trash_counter.py train --sample --epochs 6 --work-dir DIR
"""

import os
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path
from unittest import mock


def content_bytes(path: str) -> int:
    """Bytes in a file, or in all the files below a folder; 0 for what does not exist."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names if os.path.isfile(os.path.join(folder, name)))


def _path_replace(name):
    def method(self, target):
        getattr(os, name)(self, target)
        return type(self)(target)
    return method


def _path_unlink(name):
    def method(self, missing_ok=False):
        try:
            os.unlink(self)
        except FileNotFoundError:
            if not missing_ok:
                raise
    return method


class TrashCounter:
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.events: list[tuple[str, str, int]] = []  # (operation, path, bytes thrown away)
        self._inside_rmtree = False

    @property
    def total(self) -> int:
        return sum(size for _, _, size in self.events)

    def _record(self, operation, path):
        path = os.path.realpath(os.fsdecode(path))
        if path == self.root or path.startswith(self.root + os.sep):
            self.events.append((operation, path, content_bytes(path)))

    def __enter__(self):
        real = {name: getattr(os, name) for name in ("replace", "rename", "unlink", "remove")}
        real_rmtree = shutil.rmtree

        def renamer(name):
            def rename(src, dst, *args, **kwargs):
                replaced = os.path.exists(dst) and not (os.path.exists(src) and os.path.samefile(src, dst))
                if replaced and not kwargs.get("dst_dir_fd"):
                    self._record(name, dst)  # the file renamed over
                return real[name](src, dst, *args, **kwargs)
            return rename

        def remover(name):
            def remove(path, *args, **kwargs):
                if not self._inside_rmtree and not kwargs.get("dir_fd"):
                    self._record(name, path)
                return real[name](path, *args, **kwargs)
            return remove

        def rmtree(path, *args, **kwargs):
            self._record("rmtree", path)
            self._inside_rmtree = True
            try:
                return real_rmtree(path, *args, **kwargs)
            finally:
                self._inside_rmtree = False

        self._stack = ExitStack()
        for name in ("replace", "rename"):
            self._stack.enter_context(mock.patch.object(os, name, renamer(name)))
        for name in ("unlink", "remove"):
            self._stack.enter_context(mock.patch.object(os, name, remover(name)))
        self._stack.enter_context(mock.patch.object(shutil, "rmtree", rmtree))
        # Python 3.10's pathlib holds its own references to os.replace and friends: route its methods through ours
        for name, path_method in (("replace", _path_replace), ("rename", _path_replace), ("unlink", _path_unlink)):
            self._stack.enter_context(mock.patch.object(Path, name, path_method(name)))
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def report(self) -> str:
        lines = [f"{size:>10,d}  {operation:<7} {os.path.relpath(path, self.root)}"
                 for operation, path, size in self.events if size]
        return "\n".join(lines + [f"{self.total:>10,d}  bytes in all, {len(self.events)} files replaced or deleted"])


if __name__ == "__main__":
    from nlpbook_helpers import cli

    work_dir = Path(sys.argv[sys.argv.index("--work-dir") + 1])
    work_dir.mkdir(parents=True, exist_ok=True)
    with TrashCounter(work_dir) as counter:
        code = cli.main(sys.argv[1:])
    print(counter.report())
    sys.exit(code)
