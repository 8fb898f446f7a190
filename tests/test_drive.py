"""The work dir lives on Google Drive: nothing replaced may fill its Trash, and a rerun continues only the same run."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from nlpbook_helpers import cli
from nlpbook_helpers.support import drive_files
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.pipeline import train
from nlpbook_helpers.sample import SAMPLE_DATA_DIR, sample_settings
from nlpbook_helpers.run.checkpoints import RUN_KEY, load_checkpoint, resume_checkpoint, run_fingerprint
from nlpbook_helpers.runtime import Runtime
from trash_counter import TrashCounter


def test_the_counter_sees_what_drive_would_trash_and_the_helpers_leave_only_empty_files(tmp_path):
    def file(name, size):
        (tmp_path / name).write_bytes(b"x" * size)
        return tmp_path / name

    (tmp_path / "folder").mkdir()
    with TrashCounter(tmp_path) as plain:
        file("new", 10).replace(file("old", 1000))
        os.rename(file("new", 10), file("old", 2000))
        file("gone", 300).unlink()
        file("folder/inside", 40)
        shutil.rmtree(tmp_path / "folder")
    assert plain.total == 1000 + 2000 + 300 + 40

    (tmp_path / "folder").mkdir()
    with TrashCounter(tmp_path) as emptied:
        drive_files.replace_file(file("new", 10), file("old", 1000))
        drive_files.remove_file(file("gone", 300))
        file("folder/inside", 40)
        drive_files.remove_tree(tmp_path / "folder")
        drive_files.write_json(tmp_path / "old", {"a": 1})
    assert emptied.total == 0 and len(emptied.events) == 4
    assert (tmp_path / "old").read_text() == '{\n  "a": 1\n}' and not (tmp_path / "folder").exists()


def test_a_run_with_frequent_checkpoints_sends_almost_nothing_to_the_trash(tmp_path):
    with TrashCounter(tmp_path) as counter:
        train(sample_settings(tmp_path, epochs=2, checkpoint_every_n_steps=2, schedule="faithful"))
        train(sample_settings(tmp_path, epochs=3, checkpoint_every_n_steps=2, schedule="faithful"))  # resumes
    replaced_checkpoints = [event for event in counter.events if event[1].endswith("last.ckpt")]
    assert len(replaced_checkpoints) >= 30  # 35 saves of ~1 MB each: the counter saw them all
    assert counter.total <= 64 * 1024, counter.report()


def test_a_rerun_with_other_settings_is_refused_before_training(tmp_path, capsys):
    train(sample_settings(tmp_path, epochs=1))
    output = tmp_path / "runs" / "sample"
    before = {name: hashlib.sha256((output / name).read_bytes()).digest()
              for name in ("checkpoints/last.ckpt", "metrics.json")}

    code = cli.main(["train", "--sample", "--epochs", "1", "--lr", "0.01", "--schedule", "faithful",
                     "--work-dir", str(tmp_path)])
    error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(error_lines) == 1
    message = error_lines[0]
    print(message)  # the message as a learner sees it (pytest -s)
    assert "learning_rate 0.003 → 0.01, schedule 'recommended' → 'faithful'" in message
    assert message.count("→") == 2 * 2  # those two settings, named once in Korean and once in English
    assert message.count(str(output / "checkpoints" / "last.ckpt")) == 2
    assert "원래 설정으로 다시 실행하면 이어서 학습하고" in message  # the way that keeps the progress comes first
    assert "rerun with the original settings to continue it, or use another output_dir" in message
    assert "delete" not in message and "지우" not in message
    assert before == {name: hashlib.sha256((output / name).read_bytes()).digest() for name in before}


class LearningRates(Callback):
    def __init__(self):
        self.lrs = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]


def test_a_larger_epochs_never_changes_the_learning_rate_of_a_step(tmp_path):
    # recommended: the lr falls to 0 over the planned steps; a longer plan would raise it again mid-run, so it is refused
    first = LearningRates()
    train(sample_settings(tmp_path / "r", epochs=1), callbacks=[first])
    checkpoint = tmp_path / "r" / "runs" / "sample" / "checkpoints" / "last.ckpt"
    before = hashlib.sha256(checkpoint.read_bytes()).digest()
    with pytest.raises(NlpbookError) as refused:
        train(sample_settings(tmp_path / "r", epochs=2))
    print(refused.value)
    assert "recommended" in refused.value.en and "23 steps" in refused.value.en and "46 steps" in refused.value.en
    assert hashlib.sha256(checkpoint.read_bytes()).digest() == before  # nothing was trained or written

    # faithful: a constant lr, so a larger epochs continues, with the lr of every step unchanged
    straight, first, second = LearningRates(), LearningRates(), LearningRates()
    train(sample_settings(tmp_path / "s", epochs=2, schedule="faithful"), callbacks=[straight])
    train(sample_settings(tmp_path / "f", epochs=1, schedule="faithful"), callbacks=[first])
    metrics = train(sample_settings(tmp_path / "f", epochs=2, schedule="faithful"), callbacks=[second])
    assert [(row["epoch"], row["step"]) for row in metrics["epochs"]] == [(1, 23), (2, 46)]
    assert sorted(first.lrs) == list(range(23)) and sorted(second.lrs) == list(range(23, 46))
    assert {**first.lrs, **second.lrs} == straight.lrs


CPU = Runtime("cpu", "CPU", None, False)
T4, L4 = Runtime("gpu", "Tesla T4", (7, 5), True), Runtime("gpu", "NVIDIA L4", (8, 9), True)


def saved_run(settings, runtime=CPU, precision="32-true"):
    """A last.ckpt that holds only what resume_checkpoint reads: what the run was and where it ran."""
    checkpoint = Path(settings.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save({RUN_KEY: {"settings": run_fingerprint(settings), "precision": precision,
                          "device": f"{runtime.device_name} ({precision})"}}, checkpoint)
    return checkpoint


@pytest.mark.parametrize("change, named", [
    (dict(model_name="another-model"), "model_name"),
    (dict(max_seq_length=32), "max_seq_length 64 → 32"),
    (dict(batch_size=8), "batch_size 16 → 8"),
    (dict(seed=8), "seed 7 → 8"),
    (dict(length_grouped=True), "length_grouped False → True"),
])
def test_every_setting_that_defines_the_run_is_checked(tmp_path, change, named):
    settings = sample_settings(tmp_path)
    checkpoint = saved_run(settings)
    assert resume_checkpoint(settings, CPU, "32-true") == checkpoint
    assert resume_checkpoint(sample_settings(tmp_path, epochs=99, max_steps=5), CPU, "32-true") == checkpoint
    with pytest.raises(NlpbookError) as refused:
        resume_checkpoint(sample_settings(tmp_path, **change), CPU, "32-true")
    assert named in refused.value.en and refused.value.en.count("→") == 1


def test_a_reconnect_on_another_gpu_class_or_a_cpu_continues_with_one_line(tmp_path, capsys):
    settings = sample_settings(tmp_path)
    checkpoint = saved_run(settings, T4, "16-mixed")
    assert resume_checkpoint(settings, L4, "bf16-mixed") == checkpoint
    assert resume_checkpoint(settings, CPU, "32-true") == checkpoint
    lines = [line.removeprefix("[nlpbook] ") for line in capsys.readouterr().out.splitlines() if "→" in line]
    assert lines[0].startswith("Tesla T4 (16-mixed) → NVIDIA L4 (bf16-mixed): ")
    assert lines[1].startswith("Tesla T4 (16-mixed) → CPU (32-true): ") and len(lines) == 2
    with pytest.raises(NlpbookError, match=r"bf16-true keeps the weights in bf16\): rerun with precision='16-mixed'"):
        resume_checkpoint(settings, L4, "bf16-true")


def test_another_number_of_gpus_is_refused_in_the_learners_words(tmp_path):
    checkpoint = saved_run(sample_settings(tmp_path, devices=2))
    with pytest.raises(NlpbookError) as refused:
        resume_checkpoint(sample_settings(tmp_path), CPU, "32-true")
    print(refused.value)
    assert "started on 2 GPU(s) (2x16 pairs a step); on 1 every step would be another size" in refused.value.en
    assert refused.value.en.count(str(checkpoint)) == 1 and "delete" not in refused.value.en


def test_a_run_resumed_in_another_precision_trains_on(tmp_path):
    """The real resume, fp32 → bf16 mixed on the CPU: Lightning restores weights, optimizer and schedule across it."""
    settings = sample_settings(tmp_path, epochs=2, max_steps=10, schedule="faithful", precision="32-true")
    train(settings)
    metrics = train(sample_settings(tmp_path, epochs=2, max_steps=15, schedule="faithful", precision="bf16-mixed"))
    assert [row["step"] for row in metrics["epochs"]] == [15]  # both stops are in epoch 1: its row is the newer
    assert load_checkpoint(Path(settings.output_dir) / "checkpoints" / "last.ckpt", mmap=False)["global_step"] == 15


def test_the_data_is_known_by_its_content_not_its_folder(tmp_path):
    checkpoint = saved_run(sample_settings(tmp_path))
    moved = shutil.copytree(SAMPLE_DATA_DIR, tmp_path / "moved")
    assert resume_checkpoint(sample_settings(tmp_path, data_dir=str(moved)), CPU, "32-true") == checkpoint

    dev = moved / "klue-nli-v1.1_dev.json"
    dev.write_text(dev.read_text(encoding="utf-8").replace("neutral", "entailment", 1), encoding="utf-8")
    with pytest.raises(NlpbookError, match="data 'klue-nli-v1.1_train.json .*klue-nli-v1.1_dev.json"):
        resume_checkpoint(sample_settings(tmp_path, data_dir=str(moved)), CPU, "32-true")


def test_a_checkpoint_without_settings_is_not_continued(tmp_path):
    checkpoint = tmp_path / "runs" / "sample" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"global_step": 5}, checkpoint)
    with pytest.raises(NlpbookError, match="no record of its run's settings"):
        resume_checkpoint(sample_settings(tmp_path), CPU, "32-true")
