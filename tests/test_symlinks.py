"""Links in the output folder: emptying or replacing a file acts on the link, never on what it points to.

Output folders live on a Drive that may be shared, and a learner may link a file in by hand. A run empties
files before it replaces or deletes them (drive_files), so a link followed there would empty a file
anywhere. The victims below lie outside the work dir; none may change, and no file may appear next to them.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from nlpbook_helpers.support.drive_files import empty, open_new, remove_file, remove_tree, replace_dir, replace_file, write_json

ROOT = Path(__file__).resolve().parents[1]


class Victims:
    """Files and folders outside the work dir, each with its own content; `unchanged()` compares them afterwards."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir()
        self.count = 0

    def file(self) -> Path:
        self.count += 1
        path = self.folder / f"victim-{self.count}.txt"
        path.write_text(f"precious {self.count}\n" * 100)
        return path

    def missing(self) -> Path:
        """A name a dangling link points to: writing through the link would create it."""
        self.count += 1
        return self.folder / f"not-there-{self.count}"

    def directory(self) -> Path:
        self.count += 1
        path = self.folder / f"victim-dir-{self.count}"
        path.mkdir()
        (path / "inside.txt").write_text(f"precious {self.count}\n")
        return path

    def state(self) -> dict:
        return {str(path.relative_to(self.folder)): (path.read_bytes(), path.stat().st_mtime_ns)
                for path in sorted(self.folder.rglob("*")) if path.is_file()}


def link(name: Path, target: Path) -> None:
    name.parent.mkdir(parents=True, exist_ok=True)
    name.symlink_to(target)


def test_the_helpers_act_on_the_link_never_its_target(tmp_path):
    victims = Victims(tmp_path / "outside")
    folder = tmp_path / "run"
    for name in ("emptied", "removed", "replaced"):
        link(folder / name, victims.file())
    os.link(victims.file(), folder / "hard-link")  # another name of a file outside
    link(folder / "linked-dir", victims.directory())
    link(folder / "data.json.part", victims.missing())
    link(folder / "fresh.bin", victims.file())
    os.mkfifo(folder / "a-fifo")
    before = victims.state()

    empty(folder / "emptied")
    remove_file(folder / "removed")
    (folder / "new").write_text("new")
    replace_file(folder / "new", folder / "replaced")
    empty(folder / "hard-link")
    remove_file(folder / "hard-link")
    remove_tree(folder / "linked-dir")
    write_json(folder / "data.json", {"a": 1})
    with open_new(folder / "fresh.bin") as file:
        file.write(b"x")
    empty(folder / "a-fifo")  # returns at once: a FIFO is not opened for a reader that never comes

    assert victims.state() == before and not list(victims.folder.glob("not-there-*"))
    assert (folder / "replaced").read_text() == "new" and not (folder / "replaced").is_symlink()
    assert not (folder / "removed").exists() and not (folder / "linked-dir").exists()
    assert json.loads((folder / "data.json").read_text()) == {"a": 1}
    assert (folder / "fresh.bin").read_bytes() == b"x" and not (folder / "fresh.bin").is_symlink()


def test_replacing_a_folder_that_holds_links_or_is_one(tmp_path):
    victims = Victims(tmp_path / "outside")
    run = tmp_path / "run"
    link(run / "best" / "my_notes.txt", victims.file())
    link(run / "best.old", victims.directory())
    (run / "best.part").mkdir()
    (run / "best.part" / "model.safetensors").write_bytes(b"new weights")
    before = victims.state()
    replace_dir(run / "best.part", run / "best")
    assert victims.state() == before
    assert sorted(path.name for path in run.iterdir()) == ["best"]
    assert (run / "best" / "model.safetensors").read_bytes() == b"new weights"

    shutil.rmtree(run / "best")
    link(run / "best", victims.missing())  # a link to nothing where the folder goes
    (run / "best.part").mkdir()
    replace_dir(run / "best.part", run / "best")
    assert (run / "best").is_dir() and not (run / "best").is_symlink() and not list(victims.folder.glob("not-there-*"))


def test_a_training_run_writes_nothing_through_links_planted_at_every_name_it_writes(trained_sample, tmp_path):
    """A real `train --sample --epochs 1` in a work dir whose every file name the run writes, replaces or deletes
    is a link to a file outside (or, where a run would read it, a link to nothing)."""
    victims = Victims(tmp_path / "outside")
    work = tmp_path / "work"
    output = work / "runs" / "sample"
    cache_names = [path.name for path in (trained_sample.parents[2] / "cache").iterdir()]  # the same cache keys here
    assert cache_names
    for name in (".write-test", "runs/sample/.write-test", "runs/sample/metrics.json", "runs/sample/metrics.json.part",
                 "runs/sample/run.lock", "runs/sample/checkpoints/last.ckpt.part",
                 *[f"cache/{name}" for name in cache_names]):
        link(work / name, victims.file())
    link(output / "checkpoints" / "last.ckpt", victims.missing())  # read first: a link to a file would be refused
    for name in ("model.safetensors", "config.json", "tokenizer.json", "nlpbook.json", "README.md", "README.md.part",
                 "my_notes.txt"):
        link(output / "best" / name, victims.file())
    os.link(victims.file(), output / "best" / "tokenizer_config.json")
    link(output / "best.part", victims.directory())
    link(output / "best.old", victims.directory())
    before = victims.state()

    result = subprocess.run([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--epochs", "1",
                             "--work-dir", str(work)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert victims.state() == before
    assert not list(victims.folder.glob("not-there-*"))
    assert sorted(path.name for path in victims.folder.glob("victim-dir-*/*")) == ["inside.txt", "inside.txt"]
    written = [output / "metrics.json", output / "checkpoints" / "last.ckpt", output / "best" / "model.safetensors",
               output / "best" / "README.md"]
    assert all(path.is_file() and not path.is_symlink() and path.stat().st_size for path in written)
    assert json.loads((output / "metrics.json").read_text())["best_epoch"] == 1
    assert not (output / "best" / "my_notes.txt").exists() and not (output / "best.old").exists()

    # The rerun (a resume of the finished run) first reads the lock and finishes an interrupted save.
    for name in ("run.lock", "checkpoints/last.ckpt.part", "metrics.json.part", ".write-test"):
        link(output / name, victims.file())
    before = victims.state()
    again = subprocess.run([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--epochs", "1",
                            "--work-dir", str(work)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert again.returncode == 0, again.stderr[-3000:]
    assert victims.state() == before
    assert not any(path.is_symlink() for path in output.rglob("*"))
