"""The pretrained encoder with a fresh 3-way classification head (book: code 3-11).

Any BERT-family model on the hub works (kcbert-base, klue/bert-base,
klue/roberta-base, KoELECTRA), or a folder written by `save_pretrained`.
The label names travel inside the model's config, so a saved model knows
that id 1 means contradiction.
"""

import torch

from .corpus import LABEL2ID, LABELS
from .hub import check_model_folder, explained_hub_errors
from .settings import check_max_seq_length

# RoBERTa-style models count positions from padding_idx + 1, so two position slots are never usable.
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}


def load_model(model_name: str, max_seq_length: int | None = None):
    """AutoModelForSequenceClassification with 3 labels and our label names."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    check_model_folder(model_name)
    with explained_hub_errors(model_name):
        config = AutoConfig.from_pretrained(
            model_name, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=dict(LABEL2ID)
        )
    if max_seq_length is not None:
        check_max_seq_length(max_seq_length, usable_positions(config), model_name)
    with explained_hub_errors(model_name):
        return AutoModelForSequenceClassification.from_pretrained(model_name, config=config)


def usable_positions(config) -> int:
    return config.max_position_embeddings - POSITION_OFFSET.get(config.model_type, 0)


def uses_token_types(config) -> bool:
    """True when the model has a second segment embedding for the hypothesis."""
    return getattr(config, "type_vocab_size", 0) > 1


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def cpu_dropout(x, p: float):
    """Dropout of x at rate p, with a mask that is cheaper to draw on a CPU; the same maths.

    Recent torch draws a CPU dropout mask one Bernoulli number at a time:
    ~10 ns per element, about a quarter of a training step of a small BERT
    on a 2-core Xeon (benchmarks/README.md). Here one 64-bit random draw
    gives four 16-bit numbers, and an element is kept when its number clears
    a threshold: kept with probability 1 - p to within 1/65536, then scaled
    by the exact inverse of that probability, so the expected output is the
    input, as with nn.Dropout. The mask comes from torch's seeded generator,
    so runs stay reproducible.
    """
    threshold = round(p * 65536)
    draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64, device=x.device).random_(-2**63, None)
    keep = draws.view(torch.int16)[: x.numel()].view(x.shape) >= threshold - 32768
    return x * keep.to(x.dtype).mul_(65536 / (65536 - threshold))


class CpuDropout(torch.nn.Dropout):
    """nn.Dropout drawing its mask with cpu_dropout."""

    def forward(self, x):
        return cpu_dropout(x, self.p) if self.training else x


def attention_with_cpu_dropout(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Self-attention whose dropout mask comes from cpu_dropout; PyTorch's SDPA when there is no dropout.

    SDPA draws the attention's dropout mask itself, with torch's slow CPU
    Bernoulli (~4% of a training step of the benchmark's small BERT). The
    training branch is transformers' eager attention with cpu_dropout in it.
    transformers calls this through its AttentionInterface, with the additive
    mask (0 or a large negative number) of its eager attention.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if dropout == 0.0:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
    scores = torch.matmul(query, key.transpose(2, 3)) * (query.size(-1) ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = cpu_dropout(torch.softmax(scores, dim=-1), dropout)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None


CPU_ATTENTION = "nlpbook_cpu_dropout"


def use_cpu_dropout(model) -> None:
    """Swap the model's dropout for cpu_dropout's (call it only when training on a CPU).

    The nn.Dropout layers become CpuDropout; a model running SDPA attention
    switches to attention_with_cpu_dropout, registered with transformers
    under CPU_ATTENTION. Outside training both compute what they replace.
    """
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is torch.nn.Dropout and 0 < child.p < 1:
                setattr(module, name, CpuDropout(child.p).train(child.training))
    if model.config._attn_implementation == "sdpa":
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, eager_mask

        AttentionInterface.register(CPU_ATTENTION, attention_with_cpu_dropout)
        AttentionMaskInterface.register(CPU_ATTENTION, eager_mask)
        model.set_attn_implementation(CPU_ATTENTION)

