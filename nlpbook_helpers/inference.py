"""Using the trained model: each pair's label (English, Korean) and three probabilities, and a split's scores."""

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from .corpus import LABELS, LABELS_KO, NliExample
from .support.errors import NlpbookError
from .features import load_tokenizer
from .support.hub import check_model_folder
from .model import load_trained_model, usable_positions, uses_token_types
from .support.quiet import quiet_libraries
from .settings import default


@dataclass(frozen=True)
class Prediction:
    label: str  # entailment, contradiction or neutral
    label_ko: str  # 참, 거짓 or 중립
    probabilities: dict  # {label: probability} for all three labels


class Predictor:
    def __init__(self, model_dir: str | Path, device: str | None = None):
        quiet_libraries()  # transformers' loading bar, see support/quiet.py
        check_model_folder(str(model_dir), local=True)
        try:
            self.model = load_trained_model(model_dir).eval()
            self.tokenizer = load_tokenizer(str(model_dir))
            info_file = Path(model_dir) / "nlpbook.json"
            info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.exists() else {}
        except (OSError, ValueError, SafetensorError) as error:  # a damaged config.json, nlpbook.json or weights file
            kind = type(error).__name__
            raise NlpbookError(f"{model_dir}: 모델 폴더의 파일이 손상되었습니다({kind}). 학습으로 best/를 다시 만드세요.",
                               f"A file in {model_dir} is damaged ({kind}): train again to write best/.") from None
        # Without nlpbook.json: as pipeline() reads, the tokenizer's limit within the model's positions, or 64
        limit = self.tokenizer.model_max_length
        self.max_seq_length = info.get("max_seq_length") or (
            min(limit, usable_positions(self.model.config)) if limit < 1e9 else default("max_seq_length"))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)

    def predict(self, premise: str, hypothesis: str) -> Prediction:
        return self.predict_batch([(premise, hypothesis)])[0]

    @torch.inference_mode()
    def predict_batch(self, pairs, batch_size: int = 64) -> list[Prediction]:
        """Predict in chunks of batch_size, so memory stays bounded however many pairs come in."""
        pairs = [check_pair(pair, i) for i, pair in enumerate(pairs)]
        results = []
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            batch = self.tokenizer([p for p, _ in chunk], [h for _, h in chunk], truncation="longest_first",
                                   max_length=self.max_seq_length, padding=True, return_tensors="pt",
                                   return_token_type_ids=uses_token_types(self.model.config)).to(self.device)
            for row in self.model(**batch).logits.float().softmax(-1).cpu():
                label = LABELS[int(row.argmax())]
                probabilities = {name: round(float(p), 4) for name, p in zip(LABELS, row)}
                results.append(Prediction(label, LABELS_KO[label], probabilities))
        return results


MAX_CHARS = 2000  # far beyond max_seq_length tokens; longer text is cut with a warning


def check_pair(pair, index: int = 0) -> tuple[str, str]:
    """Non-empty strings (a model answers even an empty premise), long ones cut with a warning; pairs count from 1."""
    number = index + 1
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise NlpbookError(f"{number}번째 입력이 (전제, 가설) 쌍이 아닙니다.", f"Pair {number} is not a (premise, hypothesis) pair.")
    checked = []
    for name, name_ko, text in zip(("premise", "hypothesis"), ("전제", "가설"), pair):
        ko, en = f"{number}번째 쌍의 {name_ko}:", f"Pair {number}: the {name}"
        if not isinstance(text, str):
            kind = type(text).__name__
            raise NlpbookError(f"{ko} 문자열이 아닙니다({kind}).", f"{en} must be a string, got {kind}.")
        if not text.strip():
            raise NlpbookError(f"{ko} 비어 있습니다. 문장을 입력하세요.", f"{en} is empty; type a sentence.")
        if any("\ud800" <= c <= "\udfff" for c in text):  # how Python keeps argv bytes that were not UTF-8
            raise NlpbookError(f"{ko} UTF-8이 아닌 바이트가 섞여 있습니다. 터미널의 인코딩을 UTF-8로 맞추세요.",
                               f"{en} holds bytes that are not UTF-8; set the terminal's encoding to UTF-8.")
        if len(text) > MAX_CHARS:
            warnings.warn(f"pair {number}: the {name} has {len(text)} characters; only the first {MAX_CHARS} are used "
                          f"(and at most max_seq_length tokens)", stacklevel=3)
            text = text[:MAX_CHARS]
        checked.append(text.strip())
    return tuple(checked)


def evaluate(predictor: Predictor, examples: list[NliExample], batch_size: int = 64) -> dict:
    """Predict every example and score the predictions (see score)."""
    return score(examples, predictor.predict_batch([(e.premise, e.hypothesis) for e in examples], batch_size))


def score(examples: list[NliExample], predictions: list[Prediction]) -> dict:
    """Accuracy, per-class precision/recall/F1, confusion matrix (rows: gold), by torchmetrics as in training."""
    from torchmetrics.functional import classification as metrics
    gold = torch.tensor([e.label for e in examples])
    predicted = torch.tensor([LABELS.index(p.label) for p in predictions])
    n = len(LABELS)
    precision, recall, f1 = (metric(predicted, gold, num_classes=n, average=None) for metric in
                             (metrics.multiclass_precision, metrics.multiclass_recall, metrics.multiclass_f1_score))
    support = torch.bincount(gold, minlength=n).tolist()
    per_class = {name: {"precision": round(precision[i].item(), 4), "recall": round(recall[i].item(), 4),
                        "f1": round(f1[i].item(), 4), "support": support[i]} for i, name in enumerate(LABELS)}
    return {"accuracy": round(metrics.multiclass_accuracy(predicted, gold, num_classes=n, average="micro").item(), 4),
            "macro_f1": round(metrics.multiclass_f1_score(predicted, gold, num_classes=n).item(), 4),
            "per_class": per_class, "labels": list(LABELS),
            "confusion_matrix": metrics.multiclass_confusion_matrix(predicted, gold, num_classes=n).tolist()}
