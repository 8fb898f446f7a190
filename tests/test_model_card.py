"""The model card training leaves in best/README.md: its figures are metrics.json's, after a resume too."""

import json
import re
import subprocess
import sys
from pathlib import Path

from nlpbook_helpers.run.best_model import card_text
from nlpbook_helpers.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (\d+)( \(best\))? \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", re.MULTILINE)


def card_rows(card: str) -> tuple[list[dict], int]:
    """The per-epoch table of a card, as metrics.json's rows, and the epoch marked best."""
    rows, best = [], None
    for epoch, marked, step, loss, acc, f1 in ROW.findall(card):
        rows.append({"epoch": int(epoch), "step": int(step), "val_loss": float(loss), "val_acc": float(acc),
                     "macro_f1": float(f1)})
        best = int(epoch) if marked else best
    return rows, best


def front_matter(card: str) -> dict:
    import yaml

    return yaml.safe_load(re.match(r"---\n(.*?)\n---\n", card, re.DOTALL).group(1))


def test_train_sample_leaves_a_card_whose_metrics_are_metrics_json(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--work-dir", str(tmp_path),
                             "--epochs", "2"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    output = tmp_path / "runs" / "sample"
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    card = (output / "best" / "README.md").read_text(encoding="utf-8")
    rows, best = card_rows(card)
    assert rows == metrics["epochs"] and len(rows) == 2 and best == metrics["best_epoch"]
    assert "pipeline check only" in card and "파이프라인 점검용" in card
    assert "| 학습 쌍 / training pairs | 360 |" in card and "| 검증 쌍 / validation pairs | 108 |" in card
    assert front_matter(card)["pipeline_tag"] == "text-classification"
    config = json.loads((output / "best" / "config.json").read_text())
    assert config["id2label"] == {"0": "entailment", "1": "contradiction", "2": "neutral"}


def test_a_resumed_run_rewrites_the_card(tmp_path):
    from nlpbook_helpers.pipeline import train
    from nlpbook_helpers.sample import sample_settings

    train(sample_settings(tmp_path, epochs=1, schedule="faithful"))
    metrics = train(sample_settings(tmp_path, epochs=2, schedule="faithful"))  # same dir: resumes, trains epoch 2
    card = (Path(sample_settings(tmp_path).output_dir) / "best" / "README.md").read_text(encoding="utf-8")
    assert card_rows(card) == (metrics["epochs"], metrics["best_epoch"]) and len(metrics["epochs"]) == 2


def test_a_real_runs_card_has_the_hub_metadata_of_its_corpus_and_best_epoch():
    settings = Settings(model_name="beomi/kcbert-base", work_dir="/tmp/nlpbook", data_dir="/tmp/nlpbook/klue-nli")
    metrics = {"epochs": [{"epoch": 1, "step": 782, "val_loss": 0.61, "val_acc": 0.752, "macro_f1": 0.749},
                          {"epoch": 2, "step": 1564, "val_loss": 0.66, "val_acc": 0.771, "macro_f1": 0.768}],
               "best_epoch": 2, "monitor": "val_acc"}
    card = card_text(settings, metrics, {"train": 24998, "dev": 3000}, "16-mixed")
    meta = front_matter(card)
    assert meta["license"] == "cc-by-sa-4.0" and meta["base_model"] == "beomi/kcbert-base"
    assert meta["datasets"] == ["klue/klue"] and meta["language"] == "ko"
    assert meta["pipeline_tag"] == "text-classification" and meta["metrics"] == ["accuracy", "f1"]
    results = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert results == {"accuracy": 0.771, "f1": 0.768}
    assert card_rows(card) == (metrics["epochs"], 2)
    assert "pipeline check" not in card and "| 학습 쌍 / training pairs | 24,998 |" in card
    assert "entailment 0, contradiction 1, neutral 2" in card and '"text_pair"' in card
    # its example cuts a long pair where training did (best/'s tokenizer keeps max_seq_length as model_max_length)
    assert 'top_k=None, truncation=True)' in card and "앞쪽 64 토큰만" in card



def test_a_run_on_a_corpus_written_sample_is_marked_a_pipeline_check_in_its_card(tmp_path):
    """KorNLI's sample is written under the work dir in KorNLI's own format; its card must not read as a model."""
    from nlpbook_helpers.corpora import get_corpus
    from nlpbook_helpers.corpus import sample_dir

    metrics = {"epochs": [{"epoch": 1, "step": 23, "val_loss": 1.1, "val_acc": 0.4, "macro_f1": 0.3}],
               "best_epoch": 1, "monitor": "val_acc"}
    sample = Settings(corpus="kornli", work_dir=str(tmp_path), data_dir=str(sample_dir(tmp_path, get_corpus("kornli"))))
    real = Settings(corpus="kornli", work_dir=str(tmp_path))
    assert "pipeline check" in card_text(sample, metrics, {}, "32-true")
    assert "pipeline check" not in card_text(real, metrics, {}, "32-true")

class FakeTrainer:
    """What BestModelExport reads from Lightning's trainer after a validation."""

    sanity_checking, num_training_batches, precision = False, 23, "32-true"
    train_dataloader = val_dataloaders = type("Loader", (), {"dataset": range(10)})

    def __init__(self, step, val_acc):
        import torch

        self.global_step = step
        self.callback_metrics = {"val_loss": torch.tensor(0.7), "val_acc": torch.tensor(val_acc),
                                 "val_f1": torch.tensor(val_acc - 0.1)}


def test_a_metric_that_falls_after_a_mid_epoch_stop_keeps_best_and_metrics_on_one_step(tiny_bert, tmp_path):
    """max_steps 58 stops in epoch 3 and validates (0.666667); the continued run validates epoch 3 again at its
    end, step 69 (0.657407), whose row replaces it among the epochs. best/ (step 58), metrics.json's "best" and the
    card still agree."""
    from types import SimpleNamespace

    from nlpbook_helpers.run.best_model import BestModelExport, check_best_export, metrics_best
    from nlpbook_helpers.features import load_tokenizer
    from nlpbook_helpers.model import load_model

    settings = Settings(model_name=str(tiny_bert), work_dir=str(tmp_path), data_dir=str(tmp_path),
                        output_dir=str(tmp_path), max_seq_length=64)
    export = BestModelExport(settings, load_tokenizer(str(tiny_bert)))
    module = SimpleNamespace(model=load_model(str(tiny_bert)))
    for step, val_acc in ((23, 0.5), (46, 0.62963), (58, 0.666667), (69, 0.657407)):
        export.on_validation_end(FakeTrainer(step, val_acc), module)
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    exported = json.loads((tmp_path / "best" / "nlpbook.json").read_text(encoding="utf-8"))
    assert [(row["epoch"], row["step"]) for row in metrics["epochs"]] == [(1, 23), (2, 46), (3, 69)]
    assert metrics["best_step"] == exported["step"] == metrics_best(metrics)["step"] == 58
    assert metrics["best"] == {key: exported[key] for key in metrics["best"]}
    assert exported["max_seq_length"] == 64
    assert json.loads((tmp_path / "best" / "tokenizer_config.json").read_text())["model_max_length"] == 64
    check_best_export(tmp_path, export.exported, 69)  # a later rerun (--epochs 4) finds best/ as metrics.json says
    rows, best = card_rows(card_text(settings, metrics, {"train": 360, "dev": 108}, "32-true"))
    assert rows == metrics["epochs"][:2] + [metrics["best"], metrics["epochs"][2]]
    assert "| 3 (best) | 58 |" in card_text(settings, metrics, {}, "32-true")
    # the state last.ckpt carries brings the exported row back in a rerun
    rerun = BestModelExport(settings, load_tokenizer(str(tiny_bert)))
    rerun.load_state_dict(export.state_dict())
    assert rerun.summary() == metrics


def cli_train(work, *flags):
    result = subprocess.run([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--work-dir", str(work),
                             "--schedule", "faithful", *flags], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_a_faithful_run_stopped_mid_epoch_and_extended_exports_what_metrics_json_names(tmp_path):
    """The reproduction: --max-steps 58 (mid epoch 3), the same without it, then --epochs 4."""
    output = tmp_path / "runs" / "sample"
    cli_train(tmp_path, "--epochs", "3", "--max-steps", "58")
    cli_train(tmp_path, "--epochs", "3")
    for epochs in ("3", "4"):
        if epochs == "4":
            cli_train(tmp_path, "--epochs", "4")  # once refused: "최고 에폭(3)의 모델이 없거나 손상되었습니다"
        metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
        exported = json.loads((output / "best" / "nlpbook.json").read_text(encoding="utf-8"))
        card = (output / "best" / "README.md").read_text(encoding="utf-8")
        rows, _ = card_rows(card)
        best_in_card = re.search(r"^\| \d+ \(best\) \| (\d+) \|", card, re.MULTILINE).group(1)
        highest = max(rows, key=lambda row: row["val_acc"])  # the earliest of equal ones
        assert all(row in rows for row in metrics["epochs"])
        assert exported["step"] == highest["step"] == int(best_in_card), (exported, highest, best_in_card)
        assert metrics["best_step"] == exported["step"]
        assert exported["val_acc"] == next(r for r in rows if r["step"] == exported["step"])["val_acc"]
        assert {58, 69} <= {row["step"] for row in rows}


def test_running_a_finished_run_again_changes_no_byte_of_the_card(tmp_path):
    output = tmp_path / "runs" / "sample"
    cli_train(tmp_path, "--epochs", "1")
    card, metrics = (output / "best" / "README.md").read_bytes(), (output / "metrics.json").read_bytes()
    assert "| 검증 쌍 / validation pairs | 108 |".encode() in card
    cli_train(tmp_path, "--epochs", "1")  # nothing left to train: Lightning starts and ends the fit at once
    assert (output / "best" / "README.md").read_bytes() == card
    assert (output / "metrics.json").read_bytes() == metrics
