"""One training run per output dir: output_dir/run.lock, held by the first process while a fit runs.

Two runs writing one folder (a second Colab tab, a rerun while the first trains) empty each other's checkpoints.
Colab kills a runtime without cleanup, so the holder refreshes the lock every LOCK_REFRESH_SECONDS and one stale for
LOCK_STALE_SECONDS is taken over; on the same machine also one whose process is gone (a live pid is not enough).
"""

import json
import os
import socket
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path

from pytorch_lightning.callbacks import Callback

from ..support.drive_files import open_new, remove_file, replace_file
from ..support.errors import NlpbookError
from .sampling import process_rank

LOCK_STALE_SECONDS = 120
LOCK_REFRESH_SECONDS = 20


class RunLock(Callback):
    """output_dir/run.lock: who trains here; taken at the fit's setup, kept fresh by a thread, freed at its end."""

    def __init__(self, output_dir: Path):
        self.path = Path(output_dir) / "run.lock"
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}
        self.stop: threading.Event | None = None

    def setup(self, trainer, pl_module, stage):
        if stage == "fit" and process_rank()[0] == 0:
            self.acquire()

    def teardown(self, trainer, pl_module, stage):
        self.release()

    def on_exception(self, trainer, pl_module, exception):
        self.release()

    def refuse_if_taken(self) -> None:
        """Refuse when another run holds the lock and is alive."""
        try:
            held = json.loads(self.path.read_text(encoding="utf-8"))
            alive = time.time() - self.path.stat().st_mtime < LOCK_STALE_SECONDS
        except (OSError, ValueError):
            return
        if held.get("host") == self.me["host"]:  # the same machine: only another process that still runs
            try:
                os.kill(int(held.get("pid")), 0)
            except (OSError, TypeError, ValueError):
                alive = False
            alive = alive and held.get("pid") != self.me["pid"]
        if alive:
            raise NlpbookError(
                f"{self.path.parent}: 다른 학습({held['host']}의 프로세스 {held['pid']})이 이 폴더를 쓰고 있습니다. 끝나기를 "
                f"기다리거나(다른 탭 확인) 다른 output_dir을 쓰세요. 그 학습이 죽었다면 {LOCK_STALE_SECONDS}초 뒤에 풀립니다.",
                f"{self.path.parent} is in use by another run (process {held['pid']} on {held['host']}): wait until "
                f"it ends (check your other tabs) or use another output_dir. If that run died, the folder is free "
                f"again {LOCK_STALE_SECONDS} s after its last sign of life.")

    def acquire(self) -> None:
        self.refuse_if_taken()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in self.path.parent.glob(f"{self.path.name}.{'[0-9a-f]' * 32}"):  # of runs killed taking it
            with suppress(OSError):
                if time.time() - leftover.lstat().st_mtime > LOCK_STALE_SECONDS:  # not a rival's of this instant
                    remove_file(leftover)
        mine = self.path.with_name(f"{self.path.name}.{self.me['token']}")  # .part would be shared with a rival
        with open_new(mine, "w", encoding="utf-8") as file:
            file.write(json.dumps(self.me))
        replace_file(mine, self.path)
        if json.loads(self.path.read_text(encoding="utf-8")) != self.me:  # another run took it at the same instant
            self.refuse_if_taken()
        self.stop = threading.Event()
        threading.Thread(target=self.keep_fresh, args=(self.stop,), daemon=True).start()

    def keep_fresh(self, stop: threading.Event) -> None:
        while not stop.wait(LOCK_REFRESH_SECONDS):
            with suppress(OSError):
                os.utime(self.path, follow_symlinks=False)

    def release(self) -> None:
        if self.stop is not None:
            self.stop.set()
            self.stop = None
            with suppress(OSError, ValueError):
                if json.loads(self.path.read_text(encoding="utf-8")) == self.me:
                    remove_file(self.path)
