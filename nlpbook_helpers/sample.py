"""The offline stand-ins: the bundled sample corpus, a tiny model built from it, and kcbert-base's shape.

The pipeline runs with no network: `data/` holds a small corpus in KLUE-NLI's format, written for this project;
the kcbert-base stand-in has its exact shape and vocabulary (`data/kcbert-base/`, MIT) for lessons 04-06.
"""

import json
import shutil
from pathlib import Path

from .corpus import SAMPLE_DATA_DIR
from .support.drive_files import remove_tree, replace_dir

KCBERT_DIR = SAMPLE_DATA_DIR / "kcbert-base"  # vocab.txt, config.json, LICENSE (MIT)
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# ~75k parameters. Dropout 0.3 (BERT's is 0.1) is what made it generalise: best val_acc 0.69 -> 0.94 in 30 epochs.
TINY_SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  hidden_dropout_prob=0.3)
# In place of the book's values (`train --sample --help` shows them): a random model needs a far larger learning rate.
SAMPLE_VALUES = dict(batch_size=16, learning_rate=3e-3, epochs=30, checkpoint_every_n_steps=100)


def sample_texts() -> list[str]:
    return [record[key] for path in sorted(SAMPLE_DATA_DIR.glob("*.json"))
            for record in json.loads(path.read_text(encoding="utf-8")) for key in ("premise", "hypothesis")]


def build_tokenizer(vocab_size: int = 1600):
    """A WordPiece vocabulary counted from the sample, deterministically (unlike WordPieceTrainer): every character,
    then the most frequent word starts and ## endings (Korean: stem + ending) of 2-4 characters."""
    from collections import Counter
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast
    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = [word for text in sample_texts()
             for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]
    chars = sorted({c for word in words for c in word})
    pieces = Counter()
    for word in words:
        for n in range(2, min(len(word), 4) + 1):
            pieces[word[:n]] += 1
            pieces["##" + word[-n:]] += 1
    base = SPECIAL_TOKENS + chars + ["##" + c for c in chars]
    frequent = [piece for piece, count in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0])) if count >= 2]
    tokens = base + frequent[: max(vocab_size - len(base), 0)]
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(tokens)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tokens.index("[CLS]")), ("[SEP]", tokens.index("[SEP]"))])
    return BertTokenizerFast(tokenizer_object=tokenizer, do_lower_case=False, model_max_length=128)


def tiny_config(arch: str, vocab_size: int, pad_token_id: int):
    """A small BERT, RoBERTa or ELECTRA config; the tests check all three families."""
    from transformers import BertConfig, ElectraConfig, RobertaConfig
    config, shape = {"bert": (BertConfig, dict(max_position_embeddings=128)),
                     # like klue/roberta-base: a BERT tokenizer, one segment, positions offset by 2
                     "roberta": (RobertaConfig, dict(max_position_embeddings=130, type_vocab_size=1)),
                     "electra": (ElectraConfig, dict(max_position_embeddings=128, embedding_size=32))}[arch]
    return config(vocab_size=vocab_size, pad_token_id=pad_token_id, **TINY_SHAPE, **shape)


def _build(out_dir: str | Path, done: str, write) -> Path:
    """Reused if it holds `done`; else written as `<name>.part`, then swapped in: never passed off half-built."""
    out_dir = Path(out_dir)
    if not (out_dir / done).exists():
        part = out_dir.with_name(out_dir.name + ".part")
        remove_tree(part)
        write(part)
        replace_dir(part, out_dir)
    return out_dir


def build_tiny_model(out_dir: str | Path, arch: str = "bert", seed: int = 7) -> Path:
    """Save a random tiny encoder and its tokenizer to out_dir, laid out as a hub model; an existing one is reused."""
    def write(part):
        import torch
        from transformers import AutoModel
        tokenizer = build_tokenizer()
        torch.manual_seed(seed)
        AutoModel.from_config(tiny_config(arch, len(tokenizer), tokenizer.pad_token_id)).save_pretrained(part)
        tokenizer.save_pretrained(part)

    return _build(out_dir, "config.json", write)


def build_kcbert_standin(out_dir: str | Path, seed: int = 7) -> Path:
    """kcbert-base's folder as the Hub lays it out (no tokenizer_config.json), random BertForPreTraining weights:
    loaded for classification it reports what beomi/kcbert-base does. About 420 MB; an existing one is reused."""
    def write(part):
        import torch
        from transformers import BertConfig, BertForPreTraining
        from transformers.utils import logging as transformers_logging
        torch.manual_seed(seed)
        bars = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()  # "Writing model shards" is no part of the lesson
        BertForPreTraining(BertConfig.from_json_file(KCBERT_DIR / "config.json")).save_pretrained(part)
        if bars:
            transformers_logging.enable_progress_bar()
        shutil.copyfile(KCBERT_DIR / "vocab.txt", part / "vocab.txt")

    return _build(out_dir, "model.safetensors", write)


def sample_settings(work_dir: str | Path, **overrides):
    """The bundled corpus (in the given corpus's format), the tiny model, SAMPLE_VALUES, output runs/sample[-corpus]."""
    from .corpora import DEFAULT_CORPUS, get_corpus
    from .settings import Settings
    work_dir = Path(work_dir)
    corpus = get_corpus(overrides.get("corpus") or DEFAULT_CORPUS)
    run = "sample" if corpus.name == DEFAULT_CORPUS else f"sample-{corpus.name}"
    model_name = overrides.get("model_name") or str(build_tiny_model(work_dir / "tiny-bert"))
    values = dict(model_name=model_name, work_dir=str(work_dir), data_dir=str(corpus.write_sample(work_dir)),
                  output_dir=str(work_dir / "runs" / run), **SAMPLE_VALUES)
    values.update({key: value for key, value in overrides.items() if value is not None})
    return Settings(**values)
