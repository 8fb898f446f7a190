import pytest
import torch
import transformers
from torch.utils.data import DataLoader

from nlpbook_helpers import features
from nlpbook_helpers.corpus import NliExample, load_corpus
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.features import (LengthGroupedSampler, PadCollator, cached_dataset, encode_pairs,
                                      load_tokenizer, make_loaders)
from nlpbook_helpers.sample import SAMPLE_DATA_DIR

PAIR = NliExample("영화가 정말 재미있었다.", "영화가 재미있었다.", 0, "NSMC")


def test_pair_layout_and_segments(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    item = encode_pairs(tokenizer, [PAIR], max_seq_length=64)[0]
    tokens = tokenizer.convert_ids_to_tokens(item["input_ids"].tolist())
    types = item["token_type_ids"].tolist()
    first_sep = tokens.index("[SEP]")
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("[SEP]") == 2
    assert types == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
    assert "[UNK]" not in tokens  # Hangul survives (no lower-casing / accent stripping)
    assert tokenizer.decode(item["input_ids"][1:first_sep]).replace(" ", "") == PAIR.premise.replace(" ", "")


def test_truncation_at_max_seq_length(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    long = NliExample("영화가 " * 100, "정말 재미있었다.", 1, "NSMC")
    ids = encode_pairs(tokenizer, [long], max_seq_length=16)[0]["input_ids"].tolist()
    assert len(ids) == 16
    assert tokenizer.convert_ids_to_tokens(ids).count("[SEP]") == 2  # the hypothesis is kept, the premise cut


def test_single_segment_models_get_no_token_types(tiny_models):
    tokenizer = load_tokenizer(str(tiny_models["roberta"]))
    assert "token_type_ids" not in encode_pairs(tokenizer, [PAIR], 64, token_types=False)[0]


def test_dynamic_versus_fixed_padding(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    short, longer = NliExample("비가 온다.", "비가 내린다.", 0, "x"), NliExample("오늘 서울에 비가 많이 왔다.", "서울은 맑았다.", 1, "x")
    dataset = encode_pairs(tokenizer, [short, longer], 64)
    items = [dataset[0], dataset[1]]
    dynamic = PadCollator(tokenizer.pad_token_id)(items)
    fixed = PadCollator(tokenizer.pad_token_id, fixed_length=64)(items)
    longest = max(dataset.lengths())
    assert dynamic["input_ids"].shape == (2, longest) and fixed["input_ids"].shape == (2, 64)
    for batch in (dynamic, fixed):
        assert batch["attention_mask"].sum(1).tolist() == dataset.lengths()
        assert (batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id).all()
        assert batch["labels"].tolist() == [0, 1]
    assert torch.equal(fixed["input_ids"][:, :longest], dynamic["input_ids"])


def test_cache_is_reused_and_keyed_by_what_changes_the_ids(tiny_bert, tmp_path):
    tokenizer = load_tokenizer(str(tiny_bert))
    train, _ = load_corpus(SAMPLE_DATA_DIR)
    corpus_files = [SAMPLE_DATA_DIR / "klue-nli-v1.1_train.json"]
    reads = []

    def read():
        reads.append(1)
        return train

    first = cached_dataset(tokenizer, read, 64, True, corpus_files, tmp_path)
    again = cached_dataset(tokenizer, read, 64, True, corpus_files, tmp_path)
    shorter = cached_dataset(tokenizer, read, 32, True, corpus_files, tmp_path)
    assert len(list(tmp_path.glob("*.safetensors"))) == 2 and not list(tmp_path.glob("*.part"))
    assert len(reads) == 2  # the corpus is read only when its cache is missing
    both = cached_dataset(tokenizer, lambda: train + train, 64, True, corpus_files * 2, tmp_path)
    assert len(both) == 2 * len(train) and len(list(tmp_path.glob("*.safetensors"))) == 3  # all files are in the key
    assert all(torch.equal(first.flat[k], again.flat[k]) for k in first.flat)
    assert max(shorter.lengths()) == 32 < max(first.lengths())
    assert torch.equal(first[0]["input_ids"], encode_pairs(tokenizer, train[:1], 64)[0]["input_ids"])


def test_length_grouped_sampler_is_a_deterministic_shuffle_with_less_padding():
    lengths = [int(x) for x in torch.randint(10, 64, (2000,), generator=torch.Generator().manual_seed(0))]
    sampler = LengthGroupedSampler(lengths, batch_size=32, seed=7)
    order = list(sampler)
    assert sorted(order) == list(range(2000)) and order == list(LengthGroupedSampler(lengths, 32, 7))
    sampler.set_epoch(1)
    assert list(sampler) != order

    def padded(indices):
        return sum(max(lengths[i] for i in indices[s:s + 32]) * len(indices[s:s + 32]) for s in range(0, 2000, 32))

    random_order = torch.randperm(2000, generator=torch.Generator().manual_seed(0)).tolist()
    assert padded(order) < 0.8 * padded(random_order)


def test_length_grouped_batches_stay_whole_when_the_data_is_not_a_multiple_of_the_batch():
    # 2,000 = 62 batches of 32 + one of 16: wherever the short one went, the DataLoader's cuts used to straddle groups.
    lengths = [int(x) for x in torch.randint(10, 64, (2000,), generator=torch.Generator().manual_seed(0))]
    sampler = LengthGroupedSampler(lengths, batch_size=32, seed=7)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        batches = [batch.tolist() for batch in DataLoader(range(2000), batch_size=32, sampler=sampler)]
        padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)
        assert 1 - sum(lengths) / padded < 0.04, f"epoch {epoch}: {1 - sum(lengths) / padded:.1%} padding"
        assert len(batches[-1]) == 16


def test_loaders_shuffle_train_and_keep_dev_in_order(tiny_bert):
    tokenizer = load_tokenizer(str(tiny_bert))
    train, dev = load_corpus(SAMPLE_DATA_DIR)
    train_set = encode_pairs(tokenizer, train, 64)
    dev_set = encode_pairs(tokenizer, dev, 64)
    train_loader, dev_loader = make_loaders(train_set, dev_set, 32, tokenizer.pad_token_id)
    assert next(iter(dev_loader))["labels"].tolist() == [e.label for e in dev[:32]]
    torch.manual_seed(0)
    first = next(iter(train_loader))["labels"].tolist()
    assert first != [e.label for e in train[:32]]
    assert len(train_loader) == -(-len(train) // 32)


@pytest.mark.parametrize("encode_batch", [features.ENCODE_BATCH, 7])  # 7: many batches, a short last one
def test_direct_rust_encoding_matches_the_transformers_call(tiny_models, monkeypatch, encode_batch):
    monkeypatch.setattr(features, "ENCODE_BATCH", encode_batch)
    train, dev = load_corpus(SAMPLE_DATA_DIR)
    examples = train + dev + [NliExample("영화가 " * 100, "정말 재미있었다.", 1, "x"),
                              NliExample("짧다.", "가설이 " * 100, 2, "x")]
    # What BERT's normalizer changes: hanja, emoji, tab, no-break and zero-width space, NUL, U+FFFD,
    # full-width letters, a combining accent, upper case (kept: no lower-casing)
    unusual = ["조선(朝鮮)의 수도", "정말 좋아요😀👍", "영화가\t정말\u00a0재미\u200b있었다.", "널\x00문자\ufffd",
               "ＫＬＵＥ 데이터", "cafe\u0301에서 KLUE를 봤다."]
    examples[5:5] = [NliExample(text, "영화가 재미있었다.", 0, "x") for text in unusual]
    examples[20:20] = [NliExample("영화가 재미있었다.", text, 1, "x") for text in unusual]
    for arch, token_types in (("bert", True), ("roberta", False)):
        tokenizer = load_tokenizer(str(tiny_models[arch]))
        for max_seq_length in (64, 16):
            dataset = encode_pairs(tokenizer, examples, max_seq_length, token_types)
            theirs = tokenizer([e.premise for e in examples], [e.hypothesis for e in examples],
                               truncation="longest_first", max_length=max_seq_length)
            assert [item["input_ids"].tolist() for item in dataset] == theirs["input_ids"]
            assert dataset.lengths() == [len(ids) for ids in theirs["input_ids"]]
            assert [int(item["labels"]) for item in dataset] == [e.label for e in examples]
            if token_types:
                assert [item["token_type_ids"].tolist() for item in dataset] == theirs["token_type_ids"]
        # the tokenizer is left usable as usual: the next plain call neither truncates nor pads
        assert len(tokenizer("영화가 " * 100)["input_ids"]) > 64


def test_a_tokenizer_without_a_rust_version_is_refused_by_name(monkeypatch):
    class PythonOnlyTokenizer:  # what AutoTokenizer returns for a model without tokenizer.json support
        pass

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *args, **kwargs: PythonOnlyTokenizer())
    with pytest.raises(NlpbookError, match="someone/python-only-bert.*tokenizer.json"):
        load_tokenizer("someone/python-only-bert")


def test_a_cache_that_is_not_what_it_claims_is_rebuilt(tiny_bert, tmp_path):
    from safetensors.torch import load_file, save_file

    tokenizer = load_tokenizer(str(tiny_bert))
    train, _ = load_corpus(SAMPLE_DATA_DIR)
    files = [SAMPLE_DATA_DIR / "klue-nli-v1.1_train.json"]
    good = cached_dataset(tokenizer, lambda: train, 64, True, files, tmp_path)
    (cache,) = tmp_path.glob("*.safetensors")

    every_label_zero = load_file(cache)
    every_label_zero["labels"].zero_()
    save_file(every_label_zero, cache)  # the right name, other content
    rebuilt = cached_dataset(tokenizer, lambda: train, 64, True, files, tmp_path)
    assert torch.equal(rebuilt.flat["labels"], good.flat["labels"]) and rebuilt.flat["labels"].any()

    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])  # truncated
    rebuilt = cached_dataset(tokenizer, lambda: train, 64, True, files, tmp_path)
    assert all(torch.equal(rebuilt.flat[k], good.flat[k]) for k in good.flat)
    assert torch.equal(load_file(cache)["labels"], good.flat["labels"])  # and written again, whole
