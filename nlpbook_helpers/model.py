"""The pretrained encoder with a fresh 3-way classification head (book: code 3-11).

Any BERT-family model on the hub works (kcbert-base, klue/bert-base,
klue/roberta-base, KoELECTRA), or a folder written by `save_pretrained`.
The label names travel inside the model's config, so a saved model knows
that id 1 means contradiction. A trained model is always read by those
names (`load_trained_model`): a folder that lists the three classes in
another order, such as the Hub's KLUE order (entailment 0, neutral 1,
contradiction 2), gives the same answers, and one with other labels is
refused, naming what it holds.
"""

import re

from .corpus import LABEL2ID, LABELS
from .support.errors import NlpbookError
from .support.hub import check_model_folder, explained_hub_errors, hub_options
from .settings import check_max_seq_length

# RoBERTa-style models count positions from padding_idx + 1, so two position slots are never usable.
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}


def load_model(model_name: str, max_seq_length: int | None = None):
    """AutoModelForSequenceClassification with 3 labels and our label names.

    A pretrained encoder (kcbert-base) gets a new head whose outputs are
    LABELS in order. A model already trained on our three labels (a best/
    folder, in any order) keeps its head, read by name (load_trained_model).
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification

    check_model_folder(model_name)
    with explained_hub_errors(model_name):
        own = AutoConfig.from_pretrained(model_name, **hub_options(model_name))
    if has_our_labels(own):
        model = load_trained_model(model_name)
        if max_seq_length is not None:
            check_max_seq_length(max_seq_length, usable_positions(model.config), model_name)
        return model
    with explained_hub_errors(model_name):
        config = AutoConfig.from_pretrained(
            model_name, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id=dict(LABEL2ID),
            **hub_options(model_name),
        )
    if max_seq_length is not None:
        check_max_seq_length(max_seq_length, usable_positions(config), model_name)
    with explained_hub_errors(model_name):
        # No Hub kernels: transformers 5.25 turned them on by default, and re-kernelizes on every train()/eval(),
        # which fails for a model on a TPU ("Unsupported device type 'xla'"). BERT has no kernel layers to swap anyway.
        return AutoModelForSequenceClassification.from_pretrained(model_name, config=config, use_kernels=False,
                                                                  **hub_options(model_name))


def label_names(config) -> list[str]:
    """The model's outputs by name, in the order of its logits: config.id2label."""
    return [str(config.id2label[i]) for i in sorted(config.id2label, key=int)]


def is_classifier(config) -> bool:
    """A config saved with a classification head: named labels, or a *ForSequenceClassification architecture.

    A pretrained encoder alone (kcbert-base, the sample's tiny model) is not one: transformers gives every
    config the placeholder labels LABEL_0 and LABEL_1.
    """
    named = any(not re.fullmatch(r"LABEL_\d+", name) for name in label_names(config))
    return named or any(arch.endswith("ForSequenceClassification") for arch in config.architectures or [])


def has_our_labels(config) -> bool:
    return sorted(name.lower() for name in label_names(config)) == sorted(LABELS)


def label_order(config, where) -> list[int]:
    """For each of LABELS in turn, the logit that holds it, found by name; other labels are refused in one line."""
    names = label_names(config)
    if not has_our_labels(config):
        held = ", ".join(names)
        raise NlpbookError(
            f"{where}: 이 모델의 레이블은 {len(names)}개({held})입니다. 참·거짓·중립 세 레이블(entailment, contradiction, "
            "neutral)로 학습한 모델이 필요합니다. 이 과정의 학습이 만든 best/ 폴더를 주세요.",
            f"{where}: this model's {len(names)} labels are {held}; it takes a model trained on the three labels "
            "entailment, contradiction and neutral, such as the best/ folder a training run wrote.",
        )
    lowered = [name.lower() for name in names]
    return [lowered.index(label) for label in LABELS]


def load_trained_model(model_dir):
    """A trained classifier whose outputs come in LABELS' order, whatever order its config lists them in.

    The labels are read by name from the folder's own config.json before any
    weight is loaded; the rows of the output layer are then put in LABELS'
    order, so every caller (Predictor, evaluate, predict, serve) reads the
    logits by position as LABELS.
    """
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model_dir = str(model_dir)
    check_model_folder(model_dir)
    with explained_hub_errors(model_dir):
        config = AutoConfig.from_pretrained(model_dir, **hub_options(model_dir))
    if not is_classifier(config):  # an encoder without a head: a new head, untrained, as for training
        return load_model(model_dir)
    order = label_order(config, model_dir)
    with explained_hub_errors(model_dir):
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, config=config, use_kernels=False,
                                                                   **hub_options(model_dir))
    if order != list(range(len(LABELS))):
        head = [module for module in model.modules()
                if isinstance(module, torch.nn.Linear) and module.out_features == len(LABELS)][-1]
        with torch.no_grad():
            head.weight.copy_(head.weight[order].clone())
            if head.bias is not None:
                head.bias.copy_(head.bias[order].clone())
    model.config.id2label, model.config.label2id = dict(enumerate(LABELS)), dict(LABEL2ID)
    return model


def usable_positions(config) -> int:
    return config.max_position_embeddings - POSITION_OFFSET.get(config.model_type, 0)


def uses_token_types(config) -> bool:
    """True when the model has a second segment embedding for the hypothesis."""
    return getattr(config, "type_vocab_size", 0) > 1


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
