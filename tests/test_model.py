import math

import pytest
import torch

from nlpbook_helpers.corpus import LABELS
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.features import PadCollator, encode_pairs, load_tokenizer
from nlpbook_helpers.corpus import NliExample
from nlpbook_helpers.model import count_parameters, load_model, uses_token_types


@pytest.mark.parametrize("arch", ["bert", "roberta", "electra"])
def test_every_family_loads_with_a_three_label_head_and_runs(tiny_models, arch):
    model_dir = str(tiny_models[arch])
    model = load_model(model_dir, max_seq_length=64)
    assert model.config.id2label == {0: "entailment", 1: "contradiction", 2: "neutral"}
    assert model.config.label2id == {"entailment": 0, "contradiction": 1, "neutral": 2}
    tokenizer = load_tokenizer(model_dir)
    pairs = [NliExample("오늘 비가 왔다.", "오늘은 맑았다.", 1, "x"), NliExample("서울은 크다.", "서울은 도시다.", 2, "x")]
    dataset = encode_pairs(tokenizer, pairs, 64, token_types=uses_token_types(model.config))
    batch = PadCollator(tokenizer.pad_token_id)([*dataset])
    output = model(**batch)
    assert output.logits.shape == (2, len(LABELS))
    assert abs(output.loss.item() - math.log(3)) < 0.3  # an untrained head is close to uniform


def test_roberta_uses_one_segment(tiny_models):
    assert not uses_token_types(load_model(str(tiny_models["roberta"])).config)
    assert uses_token_types(load_model(str(tiny_models["bert"])).config)


def test_tiny_bert_is_about_100k_parameters(tiny_bert):
    assert 60_000 < count_parameters(load_model(str(tiny_bert))) < 150_000


def test_tiny_model_build_is_deterministic(tmp_path):
    from nlpbook_helpers.sample import build_tiny_model

    a, b = build_tiny_model(tmp_path / "a"), build_tiny_model(tmp_path / "b")
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    weights = [load_model(str(d)).base_model.embeddings.word_embeddings.weight for d in (a, b)]
    assert torch.equal(*weights)


def test_model_dir_without_weights_is_a_clear_error(tmp_path, tiny_bert):
    (tmp_path / "config.json").write_text((tiny_bert / "config.json").read_text())
    with pytest.raises(NlpbookError, match="holds no model weights"):
        load_model(str(tmp_path))
