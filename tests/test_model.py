import math

import pytest
import torch

from nlpbook_helpers.corpus import LABELS
from nlpbook_helpers.errors import NlpbookError
from nlpbook_helpers.features import PadCollator, encode_pairs, load_tokenizer
from nlpbook_helpers.corpus import NliExample
from nlpbook_helpers.model import (CPU_ATTENTION, CpuDropout, attention_with_cpu_dropout, count_parameters, load_model,
                                   use_cpu_dropout, uses_token_types)


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


def test_cpu_dropout_keeps_the_right_share_and_the_expected_value():
    x = torch.ones(1_000_000, requires_grad=True)
    dropout = CpuDropout(0.1).train()
    torch.manual_seed(0)
    y = dropout(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.002  # binomial std is 0.0003
    scale = 65536 / (65536 - round(0.1 * 65536))
    assert torch.all(y[kept] == scale) and abs(y.mean().item() - 1.0) < 0.003
    y.sum().backward()
    assert torch.equal(x.grad, kept.float() * scale)  # the gradient flows through kept elements only
    torch.manual_seed(0)
    assert torch.equal(dropout(x), y)  # seeded: the same mask again
    assert dropout(torch.ones(3, 5, 7)).shape == (3, 5, 7)  # sizes that are not a multiple of 4
    assert torch.equal(dropout.eval()(x), x)


def test_use_cpu_dropout_swaps_every_dropout_layer_and_changes_no_output(tiny_bert):
    model = load_model(str(tiny_bert)).eval()
    batch = {"input_ids": torch.tensor([[2, 50, 60, 3, 70, 3]]), "attention_mask": torch.ones(1, 6, dtype=torch.long)}
    before = model(**batch).logits
    rates = [m.p for m in model.modules() if type(m) is torch.nn.Dropout]
    use_cpu_dropout(model)
    assert [m.p for m in model.modules() if type(m) is CpuDropout] == rates and rates
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    assert model.config._attn_implementation == CPU_ATTENTION
    assert torch.equal(model(**batch).logits, before)


def test_padded_batches_give_the_same_logits_after_the_swap(tiny_bert):
    model = load_model(str(tiny_bert)).eval()
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 3:] = 0  # the second pair is 3 tokens long, then padding
    batch = {"input_ids": torch.tensor([[2, 50, 60, 3, 70, 3], [2, 50, 3, 0, 0, 0]]), "attention_mask": mask}
    before = model(**batch).logits
    use_cpu_dropout(model)
    assert torch.allclose(model(**batch).logits, before, atol=1e-6)


def test_attention_with_cpu_dropout_is_attention_and_drops_weights():
    torch.manual_seed(0)
    module = torch.nn.Module().train()
    query, key, value = (torch.randn(2, 4, 7, 8) for _ in range(3))
    mask = torch.zeros(2, 1, 7, 7)
    mask[1, ..., 5:] = torch.finfo(torch.float32).min  # the second sequence ends after 5 tokens
    expected = torch.nn.functional.scaled_dot_product_attention(query, key, value, mask).transpose(1, 2)
    # a rate below 1/131072 drops nothing, so the training branch must give plain attention
    output, _ = attention_with_cpu_dropout(module, query, key, value, mask, scaling=8 ** -0.5, dropout=1e-9)
    assert torch.allclose(output, expected, atol=1e-5)
    assert torch.allclose(attention_with_cpu_dropout(module, query, key, value, mask, dropout=0.0)[0], expected, atol=1e-5)
    # all-equal scores give weights of 1/7; with values of 1 the output is the kept share, rescaled: mean 1
    ones = torch.ones(64, 4, 7, 8)
    dropped, _ = attention_with_cpu_dropout(module, torch.zeros_like(ones), ones, ones, None, dropout=0.5)
    assert abs(dropped.mean().item() - 1.0) < 0.02 and dropped.std().item() > 0.3
