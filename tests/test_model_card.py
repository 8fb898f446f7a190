"""The model card training leaves in best/README.md: its figures are metrics.json's, after a resume too."""

import json
import re
import subprocess
import sys
from pathlib import Path

from nlpbook_helpers.model_card import card_text
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
