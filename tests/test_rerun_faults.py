"""Reruns after a kill at a bad instant, and runs that must stop: each ends in the right place or one clear line.

A "kill" here is an exception raised from a callback at the chosen instant:
the files on disk are then exactly what a SIGKILL would leave (test_resume.py
does real kills; these instants are too short to hit from outside).
"""

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from nlpbook_helpers import cli
from nlpbook_helpers.run.checkpoints import load_checkpoint
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.pipeline import train
from nlpbook_helpers.run.run_lock import LOCK_STALE_SECONDS
from nlpbook_helpers.runtime import Runtime, check_cpu_training
from nlpbook_helpers.sample import sample_settings

STEPS_PER_EPOCH = 23  # the sample: 360 pairs in batches of 16


class Killed(Exception):
    pass


class KillAt(Callback):
    def __init__(self, hook: str, when):
        self.when = when
        setattr(self, hook, self.maybe_kill)

    def maybe_kill(self, trainer, *args):
        if not trainer.sanity_checking and self.when(trainer):
            raise Killed


def output(tmp_path):
    return tmp_path / "runs" / "sample"


def steps(metrics):
    return [(row["epoch"], row["step"]) for row in metrics["epochs"]]


def test_a_max_steps_run_killed_after_an_epoch_ends_at_max_steps(tmp_path):
    settings = sample_settings(tmp_path, epochs=3, max_steps=60)
    with pytest.raises(Killed):  # killed after the epoch-1 checkpoint, in the first batch of epoch 2
        train(settings, callbacks=[KillAt("on_train_batch_start", lambda trainer: trainer.global_step == 24)])
    metrics = train(settings)
    assert steps(metrics) == [(1, 23), (2, 46), (3, 60)]
    assert load_checkpoint(output(tmp_path) / "checkpoints" / "last.ckpt", mmap=False)["global_step"] == 60


def test_a_kill_during_validation_does_not_lose_that_epochs_validation(tmp_path):
    settings = sample_settings(tmp_path, epochs=3, checkpoint_every_n_steps=STEPS_PER_EPOCH)  # saves fall on epoch ends
    with pytest.raises(Killed):
        train(settings, callbacks=[KillAt("on_validation_start", lambda trainer: trainer.global_step == 46)])
    metrics = train(settings)
    assert steps(metrics) == [(1, 23), (2, 46), (3, 69)]


def test_a_kill_while_metrics_json_is_replaced_is_repaired_by_the_rerun(tmp_path):
    settings = sample_settings(tmp_path, epochs=1)
    metrics = train(settings)
    metrics_file = output(tmp_path) / "metrics.json"
    # the instant inside write_json: the old file emptied, the complete new one still called .part
    metrics_file.with_name("metrics.json.part").write_text(metrics_file.read_text())
    metrics_file.write_text("")
    assert train(settings) == metrics
    assert json.loads(metrics_file.read_text()) == metrics


@pytest.mark.parametrize("schedule, says", [
    ("recommended", "Rerun with the original epochs and max_steps"),
    ("faithful", "has already trained to step 46; epochs=1, max_steps=-1 end at step 23, so there is nothing to do"),
])
def test_a_smaller_epochs_after_a_finished_run_is_one_line(tmp_path, capsys, schedule, says):
    train(sample_settings(tmp_path, epochs=2, schedule=schedule))
    code = cli.main(["train", "--sample", "--epochs", "1", "--schedule", schedule, "--work-dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 2 and says in error
    assert [line for line in error.splitlines() if line.startswith("error:")] == [error.strip().splitlines()[-1]]


def test_a_damaged_best_model_is_reported_by_the_rerun(tmp_path):
    settings = sample_settings(tmp_path, epochs=1)
    train(settings)
    (output(tmp_path) / "best" / "model.safetensors").unlink()
    with pytest.raises(NlpbookError, match="best epoch's \\(1\\) model is missing or damaged"):
        train(settings)


def test_an_emptied_best_config_is_reported_by_the_rerun(tmp_path):
    """best/config.json emptied (a sync tool, a full Drive): the rerun says best/ is damaged instead of exiting 0."""
    train(sample_settings(tmp_path, epochs=1))
    (output(tmp_path) / "best" / "config.json").write_text("")
    with pytest.raises(NlpbookError, match="best epoch's \\(1\\) model is missing or damaged"):
        train(sample_settings(tmp_path, epochs=1))


def test_a_loss_that_is_no_longer_a_number_stops_the_run(tmp_path, capsys):
    code = cli.main(["train", "--sample", "--lr", "1e30", "--work-dir", str(tmp_path)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    print(error)
    assert code == 2 and "The loss became nan at step 10, so training stops (lr " in error
    assert "A learning rate that is too high is the usual cause" in error
    assert not (output(tmp_path) / "best").exists() and not (output(tmp_path) / "metrics.json").exists()


def test_a_full_disk_at_the_best_export_is_one_line_in_megabytes(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(2**30, 2**30 - 300_000, 300_000))
    with pytest.raises(NlpbookError, match=r"the best/ export needs 0\.\d MB, only 0\.3 MB is free"):
        train(sample_settings(tmp_path, epochs=1))
    assert not (output(tmp_path) / "best").exists() and not (output(tmp_path) / "best.part").exists()


def test_a_disk_that_fills_during_the_best_export_is_one_line_and_keeps_the_previous_best(tiny_bert, tmp_path):
    """A real write failure: the file-size limit (RLIMIT_FSIZE) stands in for a disk that fills mid-write."""
    script = f"""
import resource, signal
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from nlpbook_helpers.run.best_model import BestModelExport
from nlpbook_helpers.settings import Settings
from nlpbook_helpers.support.errors import NlpbookError
model = AutoModelForSequenceClassification.from_pretrained(r"{tiny_bert}")
settings = Settings(model_name=r"{tiny_bert}", work_dir=r"{tmp_path}", output_dir=r"{tmp_path}", max_seq_length=64)
export = BestModelExport(settings, AutoTokenizer.from_pretrained(r"{tiny_bert}"))
export.export(model, {{"epoch": 1, "step": 23}})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    export.export(model, {{"epoch": 2, "step": 46}})
except NlpbookError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "ran out of space while exporting best/" in result.stdout and "best/를 내보내는 중에" in result.stdout
    assert json.loads((tmp_path / "best" / "nlpbook.json").read_text())["step"] == 23  # the previous best, whole
    assert sorted(path.name for path in tmp_path.iterdir()) == ["best"]  # no best.part, no best.old


def lock(tmp_path, host, pid, age=0):
    path = output(tmp_path) / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "theirs"}))
    os.utime(path, (time.time() - age, time.time() - age))


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_trains(tmp_path, capsys):
    first = subprocess.Popen([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--epochs", "3",
                              "--work-dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (output(tmp_path) / "run.lock").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()[-2000:]
            time.sleep(0.05)
        code = cli.main(["train", "--sample", "--epochs", "3", "--work-dir", str(tmp_path)])
        error = capsys.readouterr().err
        assert code == 2 and f"is in use by another run (process {first.pid} on " in error
    finally:
        first.kill()
        first.wait()
    # Killed without cleanup: its lock is left behind, and does not block the next run.
    assert (output(tmp_path) / "run.lock").exists()
    assert steps(train(sample_settings(tmp_path, epochs=3)))[-1] == (3, 69)
    assert not (output(tmp_path) / "run.lock").exists()


def test_a_lock_from_another_runtime_blocks_only_while_it_is_fresh(tmp_path):
    lock(tmp_path, "another-colab-vm", 1234)
    with pytest.raises(NlpbookError, match="in use by another run \\(process 1234 on another-colab-vm\\)"):
        train(sample_settings(tmp_path, epochs=1))
    lock(tmp_path, "another-colab-vm", 1234, age=LOCK_STALE_SECONDS + 1)  # its runtime was killed: no refresh since
    assert steps(train(sample_settings(tmp_path, epochs=1))) == [(1, 23)]


def test_on_colab_a_full_size_model_is_not_trained_on_a_cpu_by_accident(tiny_bert):
    from nlpbook_helpers.model import load_model

    colab_cpu, full_size = Runtime("cpu", "CPU", None, True), torch.nn.Linear(5000, 5000)  # 25M parameters
    with pytest.raises(NlpbookError) as refused:
        check_cpu_training(colab_cpu, "auto", full_size, 5 * 24_998)
    print(refused.value)
    assert "about 2 hours" in refused.value.en and "accelerator='cpu'" in refused.value.en
    check_cpu_training(colab_cpu, "cpu", full_size, 5 * 24_998)  # asked for: trains
    check_cpu_training(Runtime("cpu", "CPU", None, False), "auto", full_size, 5 * 24_998)  # not Colab
    check_cpu_training(colab_cpu, "auto", load_model(str(tiny_bert)), 5 * 24_998)  # the tiny model: seconds


def test_a_lock_naming_a_live_unrelated_process_on_this_machine_holds_only_while_fresh(tmp_path):
    """pid 1 is alive on every machine, and numbers are reused: before, such a lock refused for ever while the
    message promised the folder back after LOCK_STALE_SECONDS."""
    import socket

    lock(tmp_path, socket.gethostname(), 1)
    with pytest.raises(NlpbookError, match=f"If that run died, the folder is free again {LOCK_STALE_SECONDS} s after"):
        train(sample_settings(tmp_path, epochs=1))
    lock(tmp_path, socket.gethostname(), 1, age=LOCK_STALE_SECONDS + 1)
    assert steps(train(sample_settings(tmp_path, epochs=1))) == [(1, 23)]


def test_a_kill_while_the_lock_was_taken_leaves_nothing_for_good(tmp_path):
    folder = output(tmp_path)
    folder.mkdir(parents=True)
    leftover, fresh = folder / f"run.lock.{'a' * 32}", folder / f"run.lock.{'b' * 32}"  # a rival's, this instant
    for path in (leftover, fresh):
        path.write_text(json.dumps({"host": "h", "pid": 1, "token": path.suffix[1:]}))
    os.utime(leftover, (time.time() - LOCK_STALE_SECONDS - 1,) * 2)
    train(sample_settings(tmp_path, epochs=1))
    assert not leftover.exists() and fresh.exists()


def test_fewer_steps_after_a_finished_recommended_run_are_not_called_longer(tmp_path, capsys):
    train(sample_settings(tmp_path, epochs=2))  # 46 steps, the schedule planned for 46
    code = cli.main(["train", "--sample", "--epochs", "2", "--max-steps", "30", "--work-dir", str(tmp_path)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "30 스텝으로 줄이면" in error and "늘이면" not in error
    assert "bring the lr down sooner than planned" in error and "raise the lr again" not in error


def test_a_disk_that_fills_while_last_ckpt_is_written_is_one_line_and_keeps_the_previous(tmp_path):
    """A real write failure: the file-size limit (RLIMIT_FSIZE) stands in for a disk that fills after the free-space
    check passed; torch.save reports it as "unexpected pos", which names no cause."""
    script = f"""
import resource, signal
from pathlib import Path
import torch
from nlpbook_helpers.run.checkpoints import AtomicCheckpointIO
from nlpbook_helpers.support.errors import NlpbookError
path = Path(r"{tmp_path}") / "checkpoints" / "last.ckpt"
AtomicCheckpointIO().save_checkpoint({{"step": 1}}, path)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    AtomicCheckpointIO().save_checkpoint({{"step": 2, "weights": torch.zeros(100_000)}}, path)
except NlpbookError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "ran out of space while writing the checkpoint" in result.stdout and "공간이 모자랐습니다" in result.stdout
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True) == {"step": 1}
    assert [path.name for path in (tmp_path / "checkpoints").iterdir()] == ["last.ckpt"]
