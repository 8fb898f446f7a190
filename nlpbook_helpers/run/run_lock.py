"""One training run per output dir: output_dir/run.lock.

Two runs writing one folder (a second Colab tab, a rerun while the first
still trains) empty each other's checkpoints. Colab kills a runtime without
cleanup, so a lock must not outlive its run: the holder refreshes it every
LOCK_REFRESH_SECONDS, and a lock that was not refreshed for
LOCK_STALE_SECONDS is taken over, on any machine. On the same machine, a lock
whose process is gone is taken over at once; a live process of that number is
not enough to keep it, since numbers are reused (a restarted runtime, pid 1).
"""

import json
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

from ..support.drive_files import open_new, remove_file, replace_file
from ..support.errors import NlpbookError

LOCK_STALE_SECONDS = 120
LOCK_REFRESH_SECONDS = 20


class RunLock:
    """output_dir/run.lock: who trains in this folder. A lock that was not refreshed for LOCK_STALE_SECONDS (a Colab
    runtime killed without cleanup), or whose process is gone (same machine), is taken over."""

    def __init__(self, output_dir: Path):
        self.path = Path(output_dir) / "run.lock"
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}
        self.stop: threading.Event | None = None

    def holder(self) -> dict | None:
        """Who holds the lock, if that one is alive and not us."""
        try:
            held = json.loads(self.path.read_text(encoding="utf-8"))
            age = time.time() - self.path.stat().st_mtime
        except (OSError, ValueError):
            return None
        alive = age < LOCK_STALE_SECONDS
        if held.get("host") == self.me["host"]:
            alive = alive and held.get("pid") != self.me["pid"] and pid_alive(held.get("pid"))
        return held if alive else None

    def refuse_if_taken(self) -> None:
        held = self.holder()
        if held:
            raise NlpbookError(
                f"{self.path.parent}: 다른 학습({held['host']}의 프로세스 {held['pid']})이 지금 이 폴더를 쓰고 있습니다. "
                "그 학습이 끝나기를 기다리거나(다른 탭을 확인하세요) 다른 출력 폴더(output_dir)를 쓰세요. 그 학습이 "
                f"죽었다면 {LOCK_STALE_SECONDS}초 뒤에 이 폴더를 다시 쓸 수 있습니다.",
                f"{self.path.parent} is in use by another run (process {held['pid']} on {held['host']}): wait until "
                f"it ends (check your other tabs) or use another output_dir. If that run died, the folder is free "
                f"again {LOCK_STALE_SECONDS} s after its last sign of life.",
            )

    def acquire(self) -> None:
        self.refuse_if_taken()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.remove_leftovers()
        mine = self.path.with_name(f"{self.path.name}.{self.me['token']}")  # .part would be shared with a rival
        with open_new(mine, "w", encoding="utf-8") as file:
            file.write(json.dumps(self.me))
        replace_file(mine, self.path)
        if json.loads(self.path.read_text(encoding="utf-8")) != self.me:  # another run took it at the same instant
            self.refuse_if_taken()
        self.stop = threading.Event()
        threading.Thread(target=self.keep_fresh, args=(self.stop,), daemon=True).start()

    def remove_leftovers(self) -> None:
        """run.lock.<token> files of runs killed while they took the lock; a rival's, written this instant, stays."""
        for path in self.path.parent.glob(f"{self.path.name}.*"):
            try:
                old = time.time() - path.lstat().st_mtime > LOCK_STALE_SECONDS
                if old and re.fullmatch(r"[0-9a-f]{32}", path.suffix[1:]):
                    remove_file(path)
            except OSError:
                pass

    def keep_fresh(self, stop: threading.Event) -> None:
        while not stop.wait(LOCK_REFRESH_SECONDS):
            self.refresh()

    def refresh(self) -> None:
        if self.stop is not None:
            try:
                os.utime(self.path, follow_symlinks=False)
            except OSError:
                pass

    def release(self) -> None:
        if self.stop is None:
            return
        self.stop.set()
        self.stop = None
        try:
            if json.loads(self.path.read_text(encoding="utf-8")) == self.me:
                remove_file(self.path)
        except (OSError, ValueError):
            pass


def pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True
