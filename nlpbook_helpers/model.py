"""The pretrained encoder with a fresh 3-way classification head (book: code 3-11).

Any BERT-family model on the hub works (kcbert-base, klue/bert-base,
klue/roberta-base, KoELECTRA), or a folder written by `save_pretrained`.
The label names travel inside the model's config, so a saved model knows
that id 1 means contradiction.
"""

from pathlib import Path

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
