"""The trained model answers the same in every tool, and is read by its labels' names.

Predictor (predict, evaluate, 08), `serve`'s JSON API, the Space's app.py
and transformers' `pipeline("text-classification")` load the same best/
folder. They must give the same label and the same probabilities (to 1e-4)
on every pair, also on pairs longer than the training length: best/'s
tokenizer keeps that length as its model_max_length, so pipeline(...,
truncation=True) cuts where training cut. Measured on these 128 pairs before
that fix (best/ kept the tokenizer's own model_max_length, 128 for the
sample's): pipeline() and Predictor gave other probabilities on 3 pairs and
another label on 1 (the sample trained 8 epochs, as 07 leaves it); on 18 and
1 with the sample's 30 epochs. After it: on none.

A folder whose config lists the three classes in another order (the Hub's
KLUE order) answers and scores the same; one with other labels, or another
number of them, is refused in one line that names what it holds.
"""

import importlib.util
import json
import shutil
import sys
import threading

import pytest
import torch

from expect import one_line
from nlpbook_helpers.cli import main
from nlpbook_helpers.corpus import LABELS, load_corpus
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.inference import Predictor, evaluate
from nlpbook_helpers.sample import SAMPLE_DATA_DIR

KLUE_ORDER = ("entailment", "neutral", "contradiction")  # the Hub's klue/klue nli dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """best/ as 07 leaves it in the notebooks' runs: the sample, 8 epochs (val_acc 0.67; one epoch is still flat)."""
    from pathlib import Path

    from nlpbook_helpers.course import SMOKE_EPOCHS
    from nlpbook_helpers.pipeline import train
    from nlpbook_helpers.sample import sample_settings

    settings = sample_settings(tmp_path_factory.mktemp("trained"), epochs=SMOKE_EPOCHS)
    train(settings)
    return Path(settings.output_dir) / "best"


def pairs_to_compare() -> list[tuple[str, str]]:
    """The sample's 108 dev pairs, and 20 pairs far longer than the training length of 64 tokens."""
    train, dev = load_corpus(SAMPLE_DATA_DIR)
    long = [(" ".join(e.premise for e in train[i:i + 4]), train[i].hypothesis) for i in range(0, 80, 4)]
    return [(e.premise, e.hypothesis) for e in dev] + long


def by_pipeline(model_dir, pairs) -> list[dict]:
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(model_dir), device="cpu")
    answers = classifier([{"text": p, "text_pair": h} for p, h in pairs], top_k=None, truncation=True)
    return [{score["label"]: score["score"] for score in answer} for answer in answers]


def space_app(model_dir, folder, monkeypatch):
    """The Space's app.py as `push --space` writes it, imported (not launched) on a local model.

    gradio builds only the page around `judge`, which is what is compared here, so a stand-in takes its place
    (the Colab profile has no gradio; test_browser starts the real Space).
    """
    import types

    from nlpbook_helpers.sharing.share import space_files

    gradio = types.ModuleType("gradio")
    gradio.Error = type("Error", (Exception,), {})
    gradio.__getattr__ = lambda name: (lambda *args, **kwargs: None)
    monkeypatch.setitem(sys.modules, "gradio", gradio)
    for name, text in space_files(str(model_dir)).items():
        (folder / name).write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("space_app", folder / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    return app


def assert_same(expected: list[dict], got: list[dict], what: str) -> None:
    for number, (want, have) in enumerate(zip(expected, got, strict=True), start=1):
        assert max(want, key=want.get) == max(have, key=have.get), f"{what}, pair {number}: {want} vs {have}"
        assert have == pytest.approx(want, abs=1e-4), f"{what}, pair {number}"


def test_predictor_serve_space_and_pipeline_give_the_same_answers(trained, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from nlpbook_helpers.sharing.serve import predict_json

    pairs = pairs_to_compare()
    tokenizer = AutoTokenizer.from_pretrained(trained)
    assert tokenizer.model_max_length == 64  # the training length, as best/ keeps it
    lengths = [len(tokenizer(p, h)["input_ids"]) for p, h in pairs]
    assert len(pairs) == 128 and sum(length > 64 for length in lengths) == 20

    predictor = Predictor(trained, device="cpu")
    ours = [prediction.probabilities for prediction in predictor.predict_batch(pairs)]
    assert_same(ours, by_pipeline(trained, pairs), "pipeline()")
    lock = threading.Lock()
    served = [predict_json(predictor, lock, {"premise": p, "hypothesis": h})["probabilities"] for p, h in pairs]
    assert served == ours
    app = space_app(trained, tmp_path, monkeypatch)
    names = {v: k for k, v in app.NAMES.items()}
    spaced = [{names[name]: p for name, p in app.judge(*pair).items()} for pair in pairs]
    assert_same(ours, spaced, "the Space's app.py")


def test_a_best_folder_that_kept_another_length_would_disagree(trained, tmp_path):
    """The comparison above can fail: with the model_max_length best/ used to keep (128), pipeline() reads
    the long pairs further than training did."""
    old = tmp_path / "best-128"
    shutil.copytree(trained, old)
    config = json.loads((old / "tokenizer_config.json").read_text())
    (old / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 128}))
    pairs = pairs_to_compare()
    ours = [p.probabilities for p in Predictor(old, device="cpu").predict_batch(pairs)]
    theirs = by_pipeline(old, pairs)
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if b != pytest.approx(a, abs=1e-4)]
    assert differ and min(differ) >= 108  # only the long pairs, the last 20
    with pytest.raises(AssertionError):
        assert_same(ours, theirs, "pipeline()")


def reordered_copy(best, folder, order):
    """best/ saved again with its classes in `order`: the output rows permuted, id2label to match."""
    from transformers import AutoModelForSequenceClassification

    shutil.copytree(best, folder)
    model = AutoModelForSequenceClassification.from_pretrained(best)
    rows = [LABELS.index(name) for name in order]
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[rows].clone())
        model.classifier.bias.copy_(model.classifier.bias[rows].clone())
    model.config.id2label = dict(enumerate(order))
    model.config.label2id = {name: i for i, name in enumerate(order)}
    model.save_pretrained(folder)
    return folder


def classifier_with_labels(best, folder, names):
    """A classifier folder like best/, whose head has other labels (and maybe another number of them)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    shutil.copytree(best, folder)
    config = AutoConfig.from_pretrained(best, num_labels=len(names), id2label=dict(enumerate(names)),
                                        label2id={name: i for i, name in enumerate(names)})
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    return folder


def test_classes_saved_in_another_order_predict_and_score_the_same(trained, tmp_path, capsys):
    klue = reordered_copy(trained, tmp_path / "klue-order", KLUE_ORDER)
    assert json.loads((klue / "config.json").read_text())["id2label"] == {"0": "entailment", "1": "neutral",
                                                                         "2": "contradiction"}
    pairs = pairs_to_compare()
    book, hub = Predictor(trained, device="cpu"), Predictor(klue, device="cpu")
    assert_same([p.probabilities for p in book.predict_batch(pairs)],
                [p.probabilities for p in hub.predict_batch(pairs)], "KLUE order")
    assert [p.label for p in hub.predict_batch(pairs)] == [p.label for p in book.predict_batch(pairs)]
    _, dev = load_corpus(SAMPLE_DATA_DIR)
    assert evaluate(hub, dev) == evaluate(book, dev)
    # and pipeline() agrees: it reads labels by name too
    assert_same([p.probabilities for p in hub.predict_batch(pairs)], by_pipeline(klue, pairs), "pipeline(), KLUE order")
    # the command line: the same answer, word for word
    answers = []
    for folder in (trained, klue):
        assert main(["predict", "--model-dir", str(folder), "--json", *pairs[0]]) == 0
        answers.append(capsys.readouterr().out)
    assert answers[0] == answers[1]


@pytest.mark.parametrize("names, held", [
    (("negative", "positive"), "2개(negative, positive)"),
    (("entailment", "contradiction"), "2개(entailment, contradiction)"),
    (("entailment", "contradiction", "neutral", "unknown"), "4개(entailment, contradiction, neutral, unknown)"),
    (("positive", "neutral", "negative"), "3개(positive, neutral, negative)"),
    (("LABEL_0", "LABEL_1", "LABEL_2"), "3개(LABEL_0, LABEL_1, LABEL_2)"),
])
def test_a_folder_with_other_labels_is_refused_naming_them(trained, tmp_path, capsys, names, held):
    from nlpbook_helpers.sharing.serve import start

    other = classifier_with_labels(trained, tmp_path / "other", names)
    with pytest.raises(NlpbookError) as caught:
        Predictor(other, device="cpu")
    assert held in caught.value.ko and ", ".join(names) in caught.value.en
    assert "entailment, contradiction and neutral" in caught.value.en
    for command in (["predict", "--model-dir", str(other), "비가 온다.", "날씨가 궂다."],
                    ["evaluate", "--model-dir", str(other), "--data-dir", str(SAMPLE_DATA_DIR)]):
        assert main(command) == 2
        assert held in one_line(capsys)
    with pytest.raises(NlpbookError, match="labels are"):
        start(other, port=0)


def test_training_from_a_reordered_folder_keeps_its_head_by_name(trained, tmp_path):
    from nlpbook_helpers.model import load_model

    klue = reordered_copy(trained, tmp_path / "klue-order", KLUE_ORDER)
    book, hub = load_model(str(trained), 64).eval(), load_model(str(klue), 64).eval()
    assert hub.config.id2label == dict(enumerate(LABELS))
    batch = {"input_ids": torch.tensor([[2, 10, 11, 3, 12, 3]])}
    assert torch.allclose(book(**batch).logits, hub(**batch).logits)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
