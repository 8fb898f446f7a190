"""From text pairs to padded batches (book: code 3-7 … 3-10).

Pairs are tokenized by the model's own (Rust) tokenizer into `[CLS] premise [SEP] hypothesis [SEP]` and stored
unpadded; each batch is padded only to its longest pair, or to max_seq_length on a TPU (a new shape recompiles).
"""

import hashlib
import itertools
import json
import random
from functools import partial
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save
from torch.utils.data import DataLoader, Dataset

from .corpora import get_corpus
from .corpus import NliExample
from .support.download import file_id
from .support.drive_files import atomic_write, remove_file
from .support.errors import NlpbookError
from .support.hub import check_model_folder, explained_hub_errors, hub_options
from .support.log import get_logger
from .run.sampling import EpochSampler, ResumableLoader

CACHE_VERSION = 2
ENCODE_BATCH = 50_000  # pairs per tokenizer call


def load_tokenizer(model_name: str):
    """The model's own tokenizer (book: code 3-7); one with no Rust (`tokenizers`) version is refused by name.
    do_lower_case=False: BERT's lower-casing also strips accents, splitting Hangul into jamo ([UNK] words)."""
    from transformers import AutoTokenizer
    check_model_folder(model_name)
    with explained_hub_errors(model_name):
        tokenizer = AutoTokenizer.from_pretrained(model_name, do_lower_case=False, **hub_options(model_name))
    if not hasattr(tokenizer, "backend_tokenizer"):
        models = "beomi/kcbert-base, klue/bert-base, klue/roberta-base"
        raise NlpbookError(f"{model_name}의 토크나이저는 Rust(tokenizers) 버전이 없습니다. tokenizer.json이 있는 모델({models})을 고르세요.",
                           f"The tokenizer of {model_name} has no Rust (tokenizers) version: pick a model that ships "
                           f"tokenizer.json ({models}).")
    return tokenizer


def encode_pairs(tokenizer, examples: list[NliExample], max_seq_length: int, token_types: bool = True) -> "PairDataset":
    """The ids of `tokenizer(premises, hypotheses, truncation="longest_first", max_length=max_seq_length)`, as flat
    arrays a batch at a time (KorNLI's Encodings at once need 4 GB). token_types=False: one segment (klue/roberta)."""
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(max_seq_length, strategy="longest_first", direction=tokenizer.truncation_side)
    backend.no_padding()
    columns = {"input_ids": ("ids", np.int32), "token_type_ids": ("type_ids", np.int8)}  # ours: (Encoding's, dtype)
    columns = columns if token_types else {"input_ids": columns["input_ids"]}
    lengths, flat = [np.zeros(0, np.int64)], {name: [np.zeros(0, dtype)] for name, (_, dtype) in columns.items()}
    for start in range(0, len(examples), ENCODE_BATCH):
        encodings = backend.encode_batch_fast([(e.premise, e.hypothesis) for e in examples[start:start + ENCODE_BATCH]])
        lengths.append(np.fromiter(map(len, encodings), dtype=np.int64, count=len(encodings)))
        for name, (attribute, dtype) in columns.items():
            values = itertools.chain.from_iterable(getattr(e, attribute) for e in encodings)
            flat[name].append(np.fromiter(values, dtype, count=int(lengths[-1].sum())))
    return PairDataset({"offsets": torch.from_numpy(np.concatenate([[0], np.concatenate(lengths).cumsum()])),
                        "labels": torch.tensor([e.label for e in examples], dtype=torch.long),
                        **{name: torch.from_numpy(np.concatenate(parts)) for name, parts in flat.items()}})


class PairDataset(Dataset):
    """Unpadded features held as flat tensors plus offsets: compact, and saved without pickle."""

    def __init__(self, flat: dict[str, torch.Tensor]):
        self.flat, self.offsets = flat, flat["offsets"]

    def __len__(self):
        return len(self.flat["labels"])

    def __getitem__(self, i):
        pair = slice(self.offsets[i], self.offsets[i + 1])
        item = {"input_ids": self.flat["input_ids"][pair], "labels": self.flat["labels"][i]}
        if "token_type_ids" in self.flat:
            item["token_type_ids"] = self.flat["token_type_ids"][pair]
        return item

    def lengths(self) -> list[int]:
        return (self.offsets[1:] - self.offsets[:-1]).tolist()


def cached_dataset(tokenizer, read_examples, max_seq_length, token_types, corpus_files: list[Path],
                   cache_dir: Path) -> PairDataset:
    """Encode once (`read_examples()` only then), then reload from a safetensors cache keyed by all that changes
    the ids (the book keyed by tokenizer class, and pickled); a damaged or edited cache fails its hash: rebuilt."""
    key = hashlib.sha256(json.dumps([CACHE_VERSION, max_seq_length, token_types]).encode())
    rules = json.loads(tokenizer.backend_tokenizer.to_str())  # vocabulary and rules (tokenizers keeps their order)
    key.update(json.dumps({k: v for k, v in rules.items() if k not in ("truncation", "padding")}).encode())  # per call
    key.update(" ".join(file_id(path) for path in corpus_files).encode())
    path = Path(cache_dir) / f"{Path(corpus_files[0]).stem}-{key.hexdigest()[:16]}.safetensors"
    if path.exists():
        try:
            with safe_open(path, framework="pt") as file:
                claimed = (file.metadata() or {}).get("content_sha256")
                flat = {name: file.get_tensor(name) for name in file.keys()}
            if claimed == _content_hash(flat):
                return PairDataset(flat)
        except Exception:  # safetensors reports a damaged file with several exception types; all mean "rebuild"
            pass
        get_logger().info(f"{path.name}: 저장된 특징 캐시가 손상되었거나 바뀌어 다시 만듭니다")
        remove_file(path)
    dataset = encode_pairs(tokenizer, read_examples(), max_seq_length, token_types)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, what=("특징 캐시를", "the feature cache"), shared=True) as file:  # DDP ranks write it too
        file.write(save(dataset.flat, metadata={"content_sha256": _content_hash(dataset.flat)}))
    return dataset


def _content_hash(flat: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(flat):
        digest.update(name.encode())
        digest.update(flat[name].contiguous().numpy().tobytes())
    return digest.hexdigest()


class PadCollator:
    """Stack items into a batch, padded to the longest item (rounded up to a multiple) or to a fixed length."""

    def __init__(self, pad_token_id: int, fixed_length: int | None = None, multiple: int | None = None):
        self.pad_token_id, self.fixed_length, self.multiple = pad_token_id, fixed_length, multiple

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        width = self.fixed_length or max(len(item["input_ids"]) for item in items)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        batch = {"input_ids": torch.full((len(items), width), self.pad_token_id, dtype=torch.long),
                 "attention_mask": torch.zeros((len(items), width), dtype=torch.long),
                 "labels": torch.stack([item["labels"] for item in items])}
        if "token_type_ids" in items[0]:
            batch["token_type_ids"] = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            batch["attention_mask"][row, :n] = 1
            for name in ("input_ids", "token_type_ids") if "token_type_ids" in batch else ("input_ids",):
                batch[name][row, :n] = item[name]
        return batch


class LengthGroupedSampler(EpochSampler):
    """Shuffle, sort within windows of 50 batches, shuffle the batches: similar lengths, less padding. Otherwise
    as EpochSampler: deterministic per seed and epoch, resumable, dealt to DDP ranks."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, window_batches: int = 50):
        super().__init__(len(lengths), batch_size, seed)
        self.lengths, self.window = lengths, batch_size * window_batches

    def epoch_batches(self, rng: random.Random) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.window):
            window = sorted(order[start : start + self.window], key=self.lengths.__getitem__)
            batches += [window[i : i + self.batch_size] for i in range(0, len(window), self.batch_size)]
        rng.shuffle(batches)
        return batches


def make_loaders(train: PairDataset, dev: PairDataset, batch_size: int, pad_token_id: int, *,
                 fixed_length: int | None = None, length_grouped: bool = False, seed: int = 7,
                 pin_memory: bool = False, pad_multiple: int | None = None) -> tuple[DataLoader, DataLoader]:
    """The train loader (shuffled, resumable mid-epoch: run/sampling.py) and the validation loader (in order)
    (book: code 3-9, 3-10). num_workers=0: worker processes break DataLoaders in Jupyter and Colab. generator:
    worker seeds are drawn from it, not from the state of dropout."""
    sampler = LengthGroupedSampler(train.lengths(), batch_size, seed) if length_grouped else EpochSampler(
        len(train), batch_size, seed)
    common = dict(batch_size=batch_size, collate_fn=PadCollator(pad_token_id, fixed_length, pad_multiple),
                  num_workers=0, pin_memory=pin_memory)
    return (ResumableLoader(train, sampler=sampler, generator=torch.Generator(), **common),
            DataLoader(dev, shuffle=False, generator=torch.Generator(), **common))


def build_datasets(settings, tokenizer, token_types: bool) -> tuple[PairDataset, PairDataset]:
    """The corpus's train and dev splits, downloaded if missing, through the feature cache (book: code 3-8, 3-10)."""
    corpus, data_dir = get_corpus(settings.corpus), settings.data_dir
    corpus.ensure(data_dir)
    return tuple(cached_dataset(tokenizer, partial(corpus.load, data_dir, split), settings.max_seq_length, token_types,
                                corpus.paths(data_dir, split), Path(settings.work_dir) / "cache")
                 for split in ("train", "dev"))


def runtime_loaders(settings, runtime, tokenizer, train: PairDataset, dev: PairDataset,
                    pad_multiple: int | None = None):
    """make_loaders with a runtime's choices: fixed shapes on a TPU, pinned memory on a GPU, pad_multiple."""
    return make_loaders(train, dev, settings.batch_size, tokenizer.pad_token_id,
                        fixed_length=settings.max_seq_length if runtime.accelerator == "tpu" else None,
                        length_grouped=settings.length_grouped, seed=settings.seed,
                        pin_memory=runtime.accelerator == "gpu", pad_multiple=pad_multiple)
