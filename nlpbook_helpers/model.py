"""The pretrained encoder with a fresh 3-way classification head (book: code 3-11).

Any BERT-family model on the hub (kcbert-base, klue/bert-base, klue/roberta-base, KoELECTRA), or a saved folder.
"""

import re

from .corpus import LABEL2ID, LABELS
from .support.errors import NlpbookError
from .support.hub import check_model_folder, explained_hub_errors, hub_options
from .settings import check_max_seq_length

# RoBERTa-style models count positions from padding_idx + 1, so two position slots are never usable.
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}


def load_model(model_name: str, max_seq_length: int | None = None):
    """A pretrained encoder (kcbert-base) with a new head whose outputs are LABELS. A trained one keeps its head, its
    output rows put in LABELS' order whatever its config's (the Hub's KLUE order), so logits read by position."""
    import torch
    from transformers import AutoModelForSequenceClassification
    config = load_config(model_name)
    if max_seq_length is not None:
        check_max_seq_length(max_seq_length, usable_positions(config), model_name)
    names = [str(config.id2label[i]).lower() for i in sorted(config.id2label, key=int)]  # the outputs, in logit order
    order = [names.index(label) for label in LABELS] if has_our_labels(config) else list(range(len(LABELS)))
    config.id2label, config.label2id = dict(enumerate(LABELS)), dict(LABEL2ID)
    with explained_hub_errors(model_name):
        model = AutoModelForSequenceClassification.from_pretrained(model_name, config=config, **hub_options(model_name))
    if order != sorted(order):
        head = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == len(LABELS)][-1]
        with torch.no_grad():
            for weights in [head.weight] + ([head.bias] if head.bias is not None else []):
                weights.copy_(weights[order].clone())
    return model


def load_trained_model(model_dir):
    """A trained classifier, read by load_model; one with other labels is refused. An encoder alone (kcbert-base:
    transformers' placeholder labels LABEL_0, LABEL_1 and no classifier) gets a new head, as for training."""
    model_dir = str(model_dir)
    config = load_config(model_dir)
    names = [str(config.id2label[i]) for i in sorted(config.id2label, key=int)]
    encoder = all(re.fullmatch(r"LABEL_\d+", name) for name in names) and not any(
        arch.endswith("ForSequenceClassification") for arch in config.architectures or [])
    if not (encoder or has_our_labels(config)):
        raise NlpbookError(f"{model_dir}: 이 모델의 레이블은 {len(names)}개({', '.join(names)})입니다. 참·거짓·중립으로 학습한 best/를 주세요.",
                           f"{model_dir}: this model's {len(names)} labels are {', '.join(names)}; give one trained on "
                           "entailment, contradiction and neutral, such as the best/ folder a training run wrote.")
    return load_model(model_dir)


def load_config(name: str):
    from transformers import AutoConfig
    check_model_folder(name)
    with explained_hub_errors(name):
        return AutoConfig.from_pretrained(name, **hub_options(name))


def has_our_labels(config) -> bool:
    return sorted(str(name).lower() for name in config.id2label.values()) == sorted(LABELS)


def usable_positions(config) -> int:
    return config.max_position_embeddings - POSITION_OFFSET.get(config.model_type, 0)


def uses_token_types(config) -> bool:
    """True when the model has a second segment embedding for the hypothesis."""
    return getattr(config, "type_vocab_size", 0) > 1


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
