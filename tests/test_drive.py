"""The work dir lives on Google Drive: nothing replaced may fill its Trash, and a rerun continues only the same run."""

import hashlib
import os
import shutil

import pytest
import torch

from nlpbook_helpers import cli, drive_files
from nlpbook_helpers.errors import NlpbookError
from nlpbook_helpers.pipeline import train
from nlpbook_helpers.sample import SAMPLE_DATA_DIR, sample_settings
from nlpbook_helpers.resume import RUN_KEY, check_resume, run_fingerprint
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
        train(sample_settings(tmp_path, epochs=2, checkpoint_every_n_steps=2))
        train(sample_settings(tmp_path, epochs=3, checkpoint_every_n_steps=2))  # resumes, and replaces more
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
    assert "다른 출력 폴더(output_dir)를 쓰거나, 이 파일을 지우고" in message
    assert "use another output_dir, or delete that file to start over" in message
    assert before == {name: hashlib.sha256((output / name).read_bytes()).digest() for name in before}


def test_a_larger_epochs_continues_the_run(tmp_path):
    train(sample_settings(tmp_path, epochs=1))
    metrics = train(sample_settings(tmp_path, epochs=2))
    assert [(row["epoch"], row["step"]) for row in metrics["epochs"]] == [(1, 23), (2, 46)]


@pytest.mark.parametrize("change, named", [
    (dict(model_name="another-model"), "model_name"),
    (dict(max_seq_length=32), "max_seq_length 64 → 32"),
    (dict(batch_size=8), "batch_size 16 → 8"),
    (dict(seed=8), "seed 7 → 8"),
    (dict(length_grouped=True), "length_grouped False → True"),
    (dict(devices=2), "devices 1 → 2"),
])
def test_every_setting_that_defines_the_run_is_checked(tmp_path, change, named):
    settings = sample_settings(tmp_path)
    checkpoint = tmp_path / "runs" / "sample" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({RUN_KEY: run_fingerprint(settings, "32-true")}, checkpoint)
    assert check_resume(settings, "32-true") == checkpoint
    assert check_resume(sample_settings(tmp_path, epochs=99, max_steps=5), "32-true") == checkpoint
    with pytest.raises(NlpbookError, match="bf16-mixed"):
        check_resume(settings, "bf16-mixed")
    with pytest.raises(NlpbookError) as refused:
        check_resume(sample_settings(tmp_path, **change), "32-true")
    assert named in refused.value.en and refused.value.en.count("→") == 1


def test_the_data_is_known_by_its_content_not_its_folder(tmp_path):
    settings = sample_settings(tmp_path)
    checkpoint = tmp_path / "runs" / "sample" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({RUN_KEY: run_fingerprint(settings, "32-true")}, checkpoint)
    moved = shutil.copytree(SAMPLE_DATA_DIR, tmp_path / "moved")
    assert check_resume(sample_settings(tmp_path, data_dir=str(moved)), "32-true") == checkpoint

    dev = moved / "klue-nli-v1.1_dev.json"
    dev.write_text(dev.read_text(encoding="utf-8").replace("neutral", "entailment", 1), encoding="utf-8")
    with pytest.raises(NlpbookError, match="data 'klue-nli-v1.1_train.json .*klue-nli-v1.1_dev.json"):
        check_resume(sample_settings(tmp_path, data_dir=str(moved)), "32-true")


def test_a_checkpoint_without_settings_is_not_continued(tmp_path):
    checkpoint = tmp_path / "runs" / "sample" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"global_step": 5}, checkpoint)
    with pytest.raises(NlpbookError, match="no record of its run's settings"):
        check_resume(sample_settings(tmp_path), "32-true")
