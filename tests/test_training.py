"""The whole run through pipeline.train: determinism and resuming where a run stopped."""

import json

import pytest

from nlpbook_helpers.run.checkpoints import load_checkpoint
from nlpbook_helpers.corpus import load_corpus
from nlpbook_helpers.inference import Predictor, evaluate
from nlpbook_helpers.pipeline import train
from nlpbook_helpers.sample import SAMPLE_DATA_DIR, sample_settings


def test_same_seed_same_metrics(tmp_path):
    first = train(sample_settings(tmp_path / "a", epochs=2))
    second = train(sample_settings(tmp_path / "b", epochs=2))
    assert first == second
    assert first["epochs"][-1]["step"] == 2 * 23

    # inference.score on the best model agrees with what validation logged for that epoch
    best = next(row for row in first["epochs"] if row["epoch"] == first["best_epoch"])
    _, dev = load_corpus(SAMPLE_DATA_DIR)
    scores = evaluate(Predictor(tmp_path / "a" / "runs" / "sample" / "best", device="cpu"), dev)
    assert scores["accuracy"] == round(best["val_acc"], 4)
    assert scores["macro_f1"] == pytest.approx(best["macro_f1"], abs=1e-4)


def test_rerun_resumes_from_last_checkpoint(tmp_path):
    # faithful: a constant lr, so a run stopped by max_steps may go on to more steps
    settings = sample_settings(tmp_path, epochs=3, max_steps=30, schedule="faithful")  # stops 7 steps into epoch 2
    stopped = train(settings)
    assert [(row["epoch"], row["step"]) for row in stopped["epochs"]] == [(1, 23), (2, 30)]
    checkpoint = load_checkpoint(tmp_path / "runs/sample/checkpoints/last.ckpt", mmap=False)
    assert checkpoint["global_step"] == 30

    metrics = train(sample_settings(tmp_path, epochs=3, schedule="faithful"))  # same output dir: picks up at step 30
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2, 3]
    assert [row["step"] for row in metrics["epochs"]] == [23, 46, 69]
    checkpoint = load_checkpoint(tmp_path / "runs/sample/checkpoints/last.ckpt", mmap=False)
    assert checkpoint["global_step"] == 69
    history = json.loads((tmp_path / "runs/sample/metrics.json").read_text())
    assert history == metrics
    assert [row["step"] for row in checkpoint["callbacks"]["BestModelExport"]["history"]] == [23, 46, 69]


def test_a_larger_max_steps_after_a_finished_epoch_trains_to_it(tmp_path):
    train(sample_settings(tmp_path, epochs=1, schedule="faithful"))
    metrics = train(sample_settings(tmp_path, epochs=2, max_steps=40, schedule="faithful"))
    assert [(row["epoch"], row["step"]) for row in metrics["epochs"]] == [(1, 23), (2, 40)]
    assert load_checkpoint(tmp_path / "runs/sample/checkpoints/last.ckpt", mmap=False)["global_step"] == 40
