"""The pretrained encoder with a fresh 3-way classification head (book: code 3-11).

Any BERT-family model on the hub works (kcbert-base, klue/bert-base,
klue/roberta-base, KoELECTRA), or a folder written by `save_pretrained`.
The label names travel inside the model's config, so a saved model knows
that id 1 means contradiction.
"""

from .corpus import LABEL2ID, LABELS
from .hub import check_model_folder, explained_hub_errors, hub_options
from .settings import check_max_seq_length

# RoBERTa-style models count positions from padding_idx + 1, so two position slots are never usable.
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}


def load_model(model_name: str, max_seq_length: int | None = None):
    """AutoModelForSequenceClassification with 3 labels and our label names."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    check_model_folder(model_name)
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


def usable_positions(config) -> int:
    return config.max_position_embeddings - POSITION_OFFSET.get(config.model_type, 0)


def uses_token_types(config) -> bool:
    """True when the model has a second segment embedding for the hypothesis."""
    return getattr(config, "type_vocab_size", 0) > 1


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
