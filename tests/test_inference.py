"""Predicting and evaluating with a saved model, and what happens with bad input."""

import resource
import warnings

import pytest

from nlpbook_helpers.corpus import LABELS, load_corpus
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.inference import MAX_CHARS, Predictor, evaluate
from nlpbook_helpers.sample import SAMPLE_DATA_DIR


@pytest.fixture(scope="module")
def predictor(tiny_bert):
    return Predictor(tiny_bert, device="cpu")  # an untrained head is enough to check the plumbing


def test_predict_returns_label_korean_name_and_three_probabilities(predictor):
    prediction = predictor.predict("오늘 서울에 비가 많이 내렸다.", "서울은 맑았다.")
    assert prediction.label in LABELS
    assert prediction.label_ko == {"entailment": "참", "contradiction": "거짓", "neutral": "중립"}[prediction.label]
    assert list(prediction.probabilities) == list(LABELS)
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)


def test_batch_equals_one_by_one(predictor):
    pairs = [("영화가 재미있었다.", "영화가 지루했다."), ("숙소가 깨끗했다.", "숙소가 역에서 가깝다."), ("비가 왔다.", "비가 내렸다.")]
    assert predictor.predict_batch(pairs, batch_size=2) == [predictor.predict(*pair) for pair in pairs]


@pytest.mark.parametrize("pair, words", [
    (("", "가설"), "the premise is empty"),
    (("전제", " \n\t "), "the hypothesis is empty"),
    ((None, "가설"), "the premise must be a string, got NoneType"),
    (("전제", 42), "the hypothesis must be a string, got int"),
    (("전제만",), r"is not a \(premise, hypothesis\) pair"),
])
def test_bad_pairs_are_refused_with_their_index(predictor, pair, words):
    with pytest.raises(NlpbookError, match=words) as caught:
        predictor.predict_batch([("전제", "가설"), pair])
    assert "Pair 2" in caught.value.en and "2번째" in caught.value.ko  # counted from 1, as people do


def test_very_long_text_is_cut_with_a_warning(predictor):
    with pytest.warns(UserWarning, match=f"has 10000 characters; only the first {MAX_CHARS} are used"):
        prediction = predictor.predict("가" * 10_000, "가설 문장")
    assert prediction.label in LABELS


def test_ten_thousand_pairs_in_bounded_memory(predictor):
    pairs = [(f"전제 문장 {i}번은 조금 길게 씁니다.", f"가설 {i}") for i in range(10_000)]
    predictor.predict_batch(pairs[:64])  # warm up allocations before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predictions = predictor.predict_batch(pairs, batch_size=64)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert len(predictions) == 10_000
    assert grown_mb < 100  # chunks of 64: the peak does not grow with the number of pairs


def test_evaluate_reports_accuracy_per_class_scores_and_confusion(predictor):
    _, dev = load_corpus(SAMPLE_DATA_DIR)
    report = evaluate(predictor, dev)
    matrix = report["confusion_matrix"]
    assert sum(map(sum, matrix)) == len(dev)
    assert [sum(row) for row in matrix] == [report["per_class"][name]["support"] for name in LABELS]
    assert report["accuracy"] == pytest.approx(sum(matrix[i][i] for i in range(3)) / len(dev), abs=1e-4)
    for name, scores in report["per_class"].items():
        assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1


def test_model_dir_that_does_not_exist(tmp_path):
    with pytest.raises(NlpbookError, match="does not exist"):
        Predictor(tmp_path / "nope")
