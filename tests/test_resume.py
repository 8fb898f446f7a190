"""Kill a training run with SIGKILL at awkward moments, rerun it, and check nothing was lost.

A Colab disconnect kills the Python process without warning. What must hold:
the rerun resumes from checkpoints/last.ckpt (never from a half-written one;
from the new one when the kill fell after the old one was emptied), the step
count continues, and metrics.json ends with every epoch.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.runtime import choose_precision, detect_runtime
from nlpbook_helpers.sample import sample_settings
from nlpbook_helpers.run.checkpoints import load_checkpoint, resume_checkpoint

HERE = Path(__file__).parent
EPOCHS, STEPS_PER_EPOCH = 3, 23  # the sample: 360 pairs in batches of 16
ARGS = ["train", "--sample", "--epochs", str(EPOCHS), "--checkpoint-every", "5"]


def start(work, harness="-m nlpbook_helpers", pause_at="write"):
    command = [sys.executable, *harness.split(), *ARGS, "--work-dir", str(work)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PAUSE_AT": pause_at})


def wait_for(condition, process, timeout=180):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"run ended before the kill point: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.02)


def kill(process):
    process.send_signal(signal.SIGKILL)
    process.wait()


def saved_step(checkpoint):
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]


def step_on_disk(checkpoint):
    """The newest step in last.ckpt or last.ckpt.part, while a run may be replacing them; -1 if neither loads."""
    steps = [-1]
    for path in (checkpoint, checkpoint.with_name("last.ckpt.part")):
        try:
            steps.append(saved_step(path))
        except Exception:  # missing, half written, or emptied a moment ago
            pass
    return max(steps)


def resume_from(work):
    """What the CLI run (ARGS) would resume from."""
    settings = sample_settings(work, epochs=EPOCHS, checkpoint_every_n_steps=5)
    runtime = detect_runtime(settings.accelerator)
    return resume_checkpoint(settings, runtime, choose_precision(runtime, settings.precision)[0])


def test_killed_runs_resume_and_finish_complete(tmp_path):
    output = tmp_path / "runs" / "sample"
    checkpoint = output / "checkpoints" / "last.ckpt"

    # 1. Killed mid-epoch, right after the first periodic checkpoint (step 5 of 23).
    run = start(tmp_path)
    wait_for(checkpoint.exists, run)
    kill(run)
    assert resume_from(tmp_path) == checkpoint  # as the rerun will: finish or clear a save the kill interrupted
    first = saved_step(checkpoint)
    assert 0 < first < STEPS_PER_EPOCH

    # 2. Killed while last.ckpt.part is half written: last.ckpt must still be the previous, whole one.
    run = start(tmp_path, harness=str(HERE / "slow_checkpoint_train.py"))
    part = checkpoint.with_name("last.ckpt.part")
    wait_for(lambda: part.exists() and part.stat().st_size > 0, run)
    time.sleep(0.5)
    kill(run)
    assert part.exists()  # the interrupted write...
    kept = saved_step(checkpoint)
    assert kept >= first  # ...never replaced the good checkpoint
    assert resume_from(tmp_path) == checkpoint and saved_step(checkpoint) == kept
    assert not part.exists()  # the half-written file was cleared away

    # 3. Killed after the new checkpoint was complete and the old one emptied, before the rename.
    run = start(tmp_path, harness=str(HERE / "slow_checkpoint_train.py"), pause_at="swap")
    wait_for(lambda: part.exists() and checkpoint.stat().st_size == 0, run)
    kill(run)
    newest = saved_step(part)
    assert newest > kept and checkpoint.stat().st_size == 0
    assert resume_from(tmp_path) == checkpoint  # the complete .part took the emptied file's place
    assert saved_step(checkpoint) == newest and not part.exists()

    # 4. Killed at an arbitrary moment after the first epoch ended.
    run = start(tmp_path)
    wait_for(lambda: step_on_disk(checkpoint) >= STEPS_PER_EPOCH + 5, run)
    kill(run)
    before_last_rerun = step_on_disk(checkpoint)

    # 5. The plain rerun finishes the job.
    done = subprocess.run([sys.executable, "-m", "nlpbook_helpers", *ARGS, "--work-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"이어서 학습합니다: {checkpoint}" in done.stdout
    metrics = json.loads((output / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == list(range(1, EPOCHS + 1))
    assert [row["step"] for row in metrics["epochs"]] == [STEPS_PER_EPOCH * e for e in range(1, EPOCHS + 1)]
    assert saved_step(checkpoint) == EPOCHS * STEPS_PER_EPOCH > before_last_rerun
    assert (output / "best" / "model.safetensors").exists()


def test_damaged_checkpoint_is_reported_not_loaded(tmp_path):
    checkpoint = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"PK\x03\x04 half of a zip file")
    with pytest.raises(NlpbookError, match="is damaged or was not written by this course .* delete it to train"):
        load_checkpoint(checkpoint)
    with pytest.raises(NlpbookError, match="is damaged"):
        resume_checkpoint(sample_settings(tmp_path, output_dir=str(tmp_path)), detect_runtime("cpu"), "32-true")


class RunsCode:
    """Unpickled with weights_only=False, this creates a file: what a crafted checkpoint could do as the learner."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("name", ["last.ckpt", "last.ckpt.part"])
def test_a_crafted_checkpoint_runs_no_code(tmp_path, name):
    output = tmp_path / "runs" / "sample"
    (output / "checkpoints").mkdir(parents=True)
    marker = tmp_path / "ran"
    torch.save({"global_step": 5, "payload": RunsCode(marker)}, output / "checkpoints" / name)
    if name == "last.ckpt.part":  # a complete-looking .part is looked at first, to finish an interrupted save
        torch.save({"global_step": 4}, output / "checkpoints" / "last.ckpt")
    settings = sample_settings(tmp_path)
    with pytest.raises(NlpbookError) as refused:
        resume_checkpoint(settings, detect_runtime("cpu"), "32-true")
    assert not marker.exists()
    print(refused.value)


def test_export_killed_between_its_two_renames_keeps_the_previous_best(tmp_path):
    from nlpbook_helpers.run.best_model import restore_interrupted_export
    from nlpbook_helpers.support.drive_files import replace_dir

    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "model.safetensors").write_text("epoch 1")
    # A kill right after `best` was moved aside and before `best.part` took its place:
    (tmp_path / "best").rename(tmp_path / "best.old")
    (tmp_path / "best.part").mkdir()
    restore_interrupted_export(tmp_path)
    assert (tmp_path / "best" / "model.safetensors").read_text() == "epoch 1"

    (tmp_path / "best.part" / "model.safetensors").write_text("epoch 2")
    replace_dir(tmp_path / "best.part", tmp_path / "best")
    assert (tmp_path / "best" / "model.safetensors").read_text() == "epoch 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_learning_rate_and_optimizer_state_continue_exactly_after_a_kill(tmp_path):
    harness = [sys.executable, str(HERE / "record_steps_train.py")]
    subprocess.run([*harness, tmp_path / "straight", tmp_path / "straight.jsonl"], check=True, capture_output=True,
                   timeout=600)
    straight = {line["step"]: line for line in map(json.loads, (tmp_path / "straight.jsonl").read_text().splitlines())}

    killed = tmp_path / "killed"
    run = subprocess.Popen([*harness, killed, tmp_path / "killed.jsonl"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    wait_for(lambda: step_on_disk(killed / "runs" / "sample" / "checkpoints" / "last.ckpt") >= 30, run)
    kill(run)
    subprocess.run([*harness, killed, tmp_path / "killed.jsonl"], check=True, capture_output=True, timeout=600)

    lines = [json.loads(line) for line in (tmp_path / "killed.jsonl").read_text().splitlines() if line.endswith("}")]
    restart = next(i for i in range(1, len(lines)) if lines[i]["step"] <= lines[i - 1]["step"])
    resumed = lines[restart:]
    assert 30 <= resumed[0]["step"] < 3 * STEPS_PER_EPOCH  # a checkpoint after the kill point (usually step 30, mid-epoch)
    assert resumed[-1]["step"] == max(straight) == 3 * STEPS_PER_EPOCH - 1
    # The schedule continues where it was: the same learning rate at every step as without the kill.
    assert [line["lr"] for line in resumed] == [straight[line["step"]]["lr"] for line in resumed]
    assert len({line["lr"] for line in resumed}) > 10  # (it does change from step to step)
    # The optimizer continues from exactly the state it had: AdamW's step counts and both moments.
    assert resumed[0]["state"] == straight[resumed[0]["step"]]["state"]
    assert resumed[0]["state"][0][0] == resumed[0]["step"]
    # The loader continues where it was in its epoch: the same pairs in every batch as without the kill...
    assert [(line["batch"], line["labels"]) for line in resumed] == [
        (straight[line["step"]]["batch"], straight[line["step"]]["labels"]) for line in resumed]
    # ...so every epoch ends with the same metrics.
    metrics = [json.loads((tmp_path / run / "runs" / "sample" / "metrics.json").read_text())
               for run in ("straight", "killed")]
    print(json.dumps(metrics))  # pytest -s: the figures for the closing note
    assert metrics[0] == metrics[1] and len(metrics[0]["epochs"]) == 3
