import pytest

from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.settings import Settings


def test_defaults_are_the_books():
    s = Settings()
    assert (s.model_name, s.corpus, s.max_seq_length, s.batch_size, s.learning_rate, s.epochs, s.seed) == (
        "beomi/kcbert-base", "klue-nli", 64, 32, 5e-5, 5, 7)
    assert (s.accelerator, s.precision, s.schedule) == ("auto", "auto", "recommended")
    assert s.data_dir.endswith("klue-nli") and s.output_dir.endswith("paircls")


@pytest.mark.parametrize("field, value, words", [
    ("learning_rate", 0, "learning_rate=0 must be greater than 0"),
    ("learning_rate", -1e-5, "learning_rate=-1e-05 must be greater than 0"),
    ("batch_size", 0, "batch_size=0 must be greater than 0"),
    ("epochs", -2, "epochs=-2 must be greater than 0"),
    ("corpus", "snli", "corpus='snli' is not supported; use one of: klue-nli"),
    ("schedule", "cosine", "use one of: recommended, faithful"),
    ("precision", "fp16", "precision='fp16' is not supported"),
    ("accelerator", "mps", "accelerator='mps' is not supported"),
    ("max_seq_length", 4, "too short"),
    ("max_steps", 0, "max_steps=0 is not allowed"),
])
def test_bad_values_are_refused_with_field_and_value(field, value, words):
    with pytest.raises(NlpbookError) as caught:
        Settings(**{field: value})
    assert words in str(caught.value)
    assert field in caught.value.ko  # the Korean half names the field too


def test_max_seq_length_above_model_positions_is_refused(tiny_bert):
    from nlpbook_helpers.model import load_model

    with pytest.raises(NlpbookError, match="max_seq_length=200 exceeds the 128 positions"):
        load_model(str(tiny_bert), max_seq_length=200)


@pytest.mark.parametrize("field, value, words", [
    ("learning_rate", float("inf"), "learning_rate=inf must be a finite number"),
    ("learning_rate", float("nan"), "learning_rate=nan must be a finite number"),
    ("seed", -5, "seed=-5 is out of range: use a whole number from 0 to 4294967295"),
    ("seed", 2**32, "seed=4294967296 is out of range"),
])
def test_numbers_that_are_not_a_run_are_refused(field, value, words):
    with pytest.raises(NlpbookError) as caught:
        Settings(**{field: value})
    assert words in caught.value.en and field in caught.value.ko


def test_derived_folders_follow_a_replaced_corpus_or_work_dir(tmp_path):
    import dataclasses

    klue = Settings(work_dir=str(tmp_path))
    kornli = dataclasses.replace(klue, corpus="kornli")
    assert (kornli.data_dir, kornli.output_dir) == (str(tmp_path / "korpora"), str(tmp_path / "runs" / "paircls-kornli"))
    moved = dataclasses.replace(klue, work_dir=str(tmp_path / "other"))
    assert moved.data_dir == str(tmp_path / "other" / "klue-nli")
    given = dataclasses.replace(Settings(data_dir="/data/mine"), corpus="kornli")
    assert given.data_dir == "/data/mine"  # a folder given by hand stays
    assert dataclasses.replace(kornli, corpus="klue-nli") == klue
