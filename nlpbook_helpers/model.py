"""The pretrained encoder with a fresh 3-way classification head (book: code 3-11).

Any BERT-family model on the hub works (kcbert-base, klue/bert-base,
klue/roberta-base, KoELECTRA), or a folder written by `save_pretrained`.
The label names travel inside the model's config, so a saved model knows
that id 1 means contradiction.
"""

from pathlib import Path

import torch

from .corpus import LABEL2ID, LABELS
from .errors import NlpbookError
from .settings import check_max_seq_length

# RoBERTa-style models count positions from padding_idx + 1, so two position slots are never usable.
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}


def load_model(model_name: str, max_seq_length: int | None = None):
    """AutoModelForSequenceClassification with 3 labels and our label names."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    _check_model_dir(model_name)
    config = AutoConfig.from_pretrained(
        model_name, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=dict(LABEL2ID)
    )
    if max_seq_length is not None:
        check_max_seq_length(max_seq_length, usable_positions(config), model_name)
    return AutoModelForSequenceClassification.from_pretrained(model_name, config=config)


def usable_positions(config) -> int:
    return config.max_position_embeddings - POSITION_OFFSET.get(config.model_type, 0)


def uses_token_types(config) -> bool:
    """True when the model has a second segment embedding for the hypothesis."""
    return getattr(config, "type_vocab_size", 0) > 1


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


class CpuDropout(torch.nn.Dropout):
    """nn.Dropout with a mask that is cheaper to draw on a CPU; the same maths.

    Recent torch draws a CPU dropout mask one Bernoulli number at a time:
    ~10 ns per element, about a quarter of a training step of a small BERT
    on a 2-core Xeon (benchmarks/README.md). Here one 64-bit random draw
    gives four 16-bit numbers, and an element is kept when its number clears
    a threshold: kept with probability 1 - p to within 1/65536, then scaled
    by the exact inverse of that probability, so the expected output is the
    input, as with nn.Dropout. The mask comes from torch's seeded generator,
    so runs stay reproducible.
    """

    def forward(self, x):
        if not self.training:
            return x
        threshold = round(self.p * 65536)
        draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64, device=x.device).random_(-2**63, None)
        keep = draws.view(torch.int16)[: x.numel()].view(x.shape) >= threshold - 32768
        return x * keep.to(x.dtype).mul_(65536 / (65536 - threshold))


def use_cpu_dropout(model) -> None:
    """Swap the model's nn.Dropout layers for CpuDropout (call it only when training on a CPU).

    The attention's own dropout layer is swapped too, but only its rate is
    read: scaled_dot_product_attention draws that mask itself.
    """
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is torch.nn.Dropout and 0 < child.p < 1:
                setattr(module, name, CpuDropout(child.p).train(child.training))


def _check_model_dir(model_name: str) -> None:
    """A local folder must hold a config and weights; say so plainly instead of a hub 404."""
    path = Path(model_name)
    if not path.exists():
        if model_name.startswith((".", "/", "~")):
            raise NlpbookError(f"모델 폴더 {path}가 없습니다.", f"The model folder {path} does not exist.")
        return  # a hub name
    weights = list(path.glob("*.safetensors")) + list(path.glob("pytorch_model*.bin"))
    if not (path / "config.json").exists() or not weights:
        raise NlpbookError(
            f"{path}에 모델 가중치(config.json과 *.safetensors)가 없습니다. 학습이 끝난 폴더(예: runs/paircls/best)를 주세요.",
            f"{path} holds no model weights (config.json and *.safetensors): point to a trained model folder such as runs/paircls/best.",
        )
