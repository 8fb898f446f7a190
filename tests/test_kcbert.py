"""kcbert-base offline: its real vocabulary and shape, and the tokenizer the package builds from them.

`nlpbook_helpers/data/kcbert-base/` holds kcbert-base's vocab.txt and
config.json (Beomi/KcBERT, MIT). The package's tokenizer must give exactly
the ids of the book's `BertTokenizer(vocab.txt, do_lower_case=False)`, with or
without a tokenizer_config.json beside the vocabulary (which files the Hub's
beomi/kcbert-base repository holds besides vocab.txt is not known here).

Measured on the bundled sample (936 sentences, 6,823 words with Hangul,
12,589 tokens): no [UNK] at all, 0.00%; every one of its 596 Hangul syllables
is in the vocabulary. With do_lower_case=True each of those 6,823 words
becomes one [UNK] (6,823 of 7,662 tokens; the rest is punctuation): the accent
stripping splits each syllable into jamo the vocabulary lacks.
"""

import hashlib
import json
import re
import shutil

import pytest

from nlpbook_helpers.corpus import load_corpus
from nlpbook_helpers.course import STANDIN_LINE, course_settings
from nlpbook_helpers.features import encode_pairs, load_tokenizer
from nlpbook_helpers.model import count_parameters, load_model
from nlpbook_helpers.sample import KCBERT_DIR, SAMPLE_DATA_DIR, build_kcbert_standin, sample_texts

HANGUL = re.compile("[가-힣]")
# the sha256 the Beomi/KcBERT repository's files have (../shared/kcbert-base/README.md)
SHA256 = {"vocab.txt": "6086d894548a3e4bf2b306c0ca7e13614578e5b3c55de264866cd1119a777f92",
          "config.json": "e8894062a74ae6f1fe6a7798e11e6313a0a11f01c3573665b8086910fbd7a509"}


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return build_kcbert_standin(tmp_path_factory.mktemp("kcbert") / "kcbert-base")


@pytest.fixture(scope="module")
def book_tokenizer():
    from transformers import BertTokenizer

    return BertTokenizer(str(KCBERT_DIR / "vocab.txt"), do_lower_case=False)


def sample_pairs():
    train, dev = load_corpus(SAMPLE_DATA_DIR)
    return train + dev


def test_the_bundled_files_are_kcbert_bases_own():
    for name, digest in SHA256.items():
        assert hashlib.sha256((KCBERT_DIR / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (KCBERT_DIR / "LICENSE").read_text(encoding="utf-8")


def test_the_package_tokenizer_gives_the_books_ids_on_every_sample_pair(standin, book_tokenizer):
    examples = sample_pairs()
    ours = load_tokenizer(str(standin))
    premises, hypotheses = [e.premise for e in examples], [e.hypothesis for e in examples]
    expected = book_tokenizer(premises, hypotheses)
    got = ours(premises, hypotheses)
    assert len(examples) == 468
    assert got["input_ids"] == expected["input_ids"]
    assert got["token_type_ids"] == expected["token_type_ids"]
    # and the features training reads (encode_pairs goes to the Rust tokenizer directly), cut at 64 tokens
    features = encode_pairs(ours, examples, 64)
    cut = book_tokenizer(premises, hypotheses, truncation="longest_first", max_length=64)
    assert [features[i]["input_ids"].tolist() for i in range(len(examples))] == cut["input_ids"]


def test_a_hub_folder_without_tokenizer_config_tokenizes_as_one_with_it(standin, tmp_path):
    """vocab.txt + config.json alone, and the same with kcbert's tokenizer_config.json: the same ids."""
    with_config = tmp_path / "with-tokenizer-config"
    with_config.mkdir()
    for name in ("vocab.txt", "config.json"):
        shutil.copyfile(standin / name, with_config / name)
    (with_config / "model.safetensors").symlink_to(standin / "model.safetensors")
    (with_config / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "model_max_length": 300}))
    assert sorted(path.name for path in standin.iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]
    texts = sample_texts()
    bare, configured = load_tokenizer(str(standin)), load_tokenizer(str(with_config))
    assert bare(texts[::2], texts[1::2])["input_ids"] == configured(texts[::2], texts[1::2])["input_ids"]


def unk_share(tokenizer) -> tuple[int, int]:
    """([UNK] tokens, all tokens) over the sample's words that hold Hangul."""
    unk = total = 0
    for text in sample_texts():
        for word in text.split():
            if HANGUL.search(word):
                pieces = tokenizer.tokenize(word)
                unk += pieces.count("[UNK]")
                total += len(pieces)
    return unk, total


def test_no_unk_in_the_samples_hangul(standin, book_tokenizer):
    from transformers import BertTokenizer

    unk, total = unk_share(load_tokenizer(str(standin)))
    assert (unk, total) == (0, 12_589), f"[UNK]: {unk} of {total} tokens ({unk / total:.2%})"
    # the measure can fail: lower-casing strips accents, which splits Hangul into jamo the vocabulary lacks
    lowered_unk, lowered_total = unk_share(BertTokenizer(str(KCBERT_DIR / "vocab.txt"), do_lower_case=True))
    assert (lowered_unk, lowered_total) == (6_823, 7_662)  # every Hangul word one [UNK]; the rest is punctuation


def test_the_standin_has_kcbert_bases_shape(standin):
    model = load_model(str(standin), 64)
    assert count_parameters(model) == 108_920_835
    assert (model.classifier.in_features, model.classifier.out_features) == (768, 3)
    assert model.config.max_position_embeddings == 300


def test_smoke_mode_gives_kcbert_to_the_lessons_that_never_train(tmp_path, monkeypatch, capsys, standin):
    monkeypatch.setenv("NLPBOOK_SMOKE", "1")
    shutil.copytree(standin, tmp_path / "kcbert-base")  # what build_kcbert_standin would write there
    lesson = course_settings(model_name="beomi/kcbert-base", max_seq_length=64, batch_size=32, seed=7,
                             work_dir=tmp_path)
    assert STANDIN_LINE in capsys.readouterr().out
    assert lesson.model_name == str(tmp_path / "kcbert-base") and lesson.batch_size == 32
    assert lesson.data_dir == str(SAMPLE_DATA_DIR)
    training = course_settings(model_name="beomi/kcbert-base", max_seq_length=64, batch_size=32, learning_rate=5e-5,
                               epochs=5, seed=7, work_dir=tmp_path)
    assert training.model_name == str(tmp_path / "tiny-bert") and training.batch_size == 16
