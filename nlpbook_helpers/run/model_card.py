"""The model card: best/README.md, in Korean and English, the way Hugging Face model folders carry one.

A card says what a folder of weights is: the base model, the corpus, the
labels by name and id, the settings, every epoch's validation metrics and
how the best one was chosen, what it is for and what it cannot do, and how to
load it without this package. Its YAML header (`language`, `license`,
`datasets`, `base_model`, `pipeline_tag`, `metrics`, `model-index`) is what the
Hub reads. `ModelCardWriter` rewrites it after every validation and at the
end of fit, so its figures always equal metrics.json's, after a resume too;
its best row is metrics.json's "best", the validation best/ was exported
from (listed beside the epochs when a later validation of its epoch, after
a stop by max_steps and a continued run, replaced it there).
What the card says of the run besides metrics.json (the number of pairs,
the precision) travels in last.ckpt as the writer's state, so rerunning a
finished run, which trains and validates nothing, rewrites the same bytes.
"""

import json
from pathlib import Path

from pytorch_lightning.callbacks import Callback

from ..corpora import get_corpus
from .best_model import metrics_best
from ..corpus import LABELS, LABELS_KO
from ..support.drive_files import open_new, replace_file
from ..sample import SAMPLE_DATA_DIR

class ModelCardWriter(Callback):
    """Write best/README.md from metrics.json after each validation (BestModelExport runs first) and at fit end."""

    def __init__(self, settings):
        self.settings = settings
        self.sizes: dict = {}  # {"train": pairs, "dev": pairs}, read from the loaders when training starts
        self.precision: str | None = None  # the precision the run trained with

    def state_dict(self):
        return {"sizes": self.sizes, "precision": self.precision}

    def load_state_dict(self, state_dict):
        self.sizes, self.precision = dict(state_dict["sizes"]), state_dict["precision"]

    def on_train_start(self, trainer, pl_module):
        self.sizes["train"] = len(trainer.train_dataloader.dataset)
        self.precision = str(trainer.precision)

    def on_validation_start(self, trainer, pl_module):
        self.sizes["dev"] = len(trainer.val_dataloaders.dataset)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking and trainer.is_global_zero:
            write_card(self.settings, self.sizes, self.precision or trainer.precision)

    def on_fit_end(self, trainer, pl_module):
        if trainer.is_global_zero:
            write_card(self.settings, self.sizes, self.precision or trainer.precision)


def write_card(settings, sizes: dict, precision: str) -> Path | None:
    """best/README.md from output_dir/metrics.json; nothing to do before the first export."""
    output_dir = Path(settings.output_dir)
    best, metrics_file = output_dir / "best", output_dir / "metrics.json"
    if not (best / "config.json").exists() or not metrics_file.exists():
        return None
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    card = best / "README.md"
    text = card_text(settings, metrics, sizes, precision)
    if card.exists() and card.read_text(encoding="utf-8") == text:
        return card  # nothing new: not even the file's time changes
    part = card.with_name(card.name + ".part")
    with open_new(part, "w", encoding="utf-8") as file:  # never through a link left at that name
        file.write(text)
    replace_file(part, card)
    return card


def is_sample_run(settings) -> bool:
    """The bundled sample (and the tiny model built for it) checks the pipeline; it is not a model."""
    data_dir = Path(settings.data_dir)
    return data_dir.resolve() == SAMPLE_DATA_DIR.resolve() or data_dir.name == "sample-korpora"


def card_text(settings, metrics: dict, sizes: dict, precision: str) -> str:
    best = metrics_best(metrics)
    return f"---\n{metadata(settings, best).to_yaml()}\n---\n\n" + body(settings, metrics, sizes, precision)


def metadata(settings, best: dict):
    from huggingface_hub import EvalResult, ModelCardData

    corpus = get_corpus(settings.corpus)
    tags = ["nli", "sentence-pair-classification", "nlpbook"]
    if is_sample_run(settings):  # our own sample sentences (the course's license), a tiny local model
        return ModelCardData(language="ko", license="mit", pipeline_tag="text-classification",
                             tags=tags + ["pipeline-check"])
    if corpus.hub_dataset is None:  # a corpus with no copy on the Hub: no dataset to link the results to
        return ModelCardData(language="ko", license=corpus.license or None, base_model=settings.model_name,
                             pipeline_tag="text-classification", tags=tags)
    hub_id, config, split = corpus.hub_dataset
    results = [EvalResult(task_type="text-classification", task_name="Natural Language Inference",
                          dataset_type=hub_id, dataset_name=corpus.title, dataset_config=config,
                          dataset_split=split, metric_type=kind, metric_name=name, metric_value=best[key])
               for kind, name, key in (("accuracy", "val_acc", "val_acc"), ("f1", "macro F1", "macro_f1"))]
    return ModelCardData(language="ko", license=corpus.license, datasets=[hub_id],
                         base_model=settings.model_name, pipeline_tag="text-classification",
                         metrics=["accuracy", "f1"], tags=tags, eval_results=results,
                         model_name=f"{settings.model_name.split('/')[-1]}-{settings.corpus}")


def validations(metrics: dict) -> list[dict]:
    """metrics.json's rows by step: one per epoch, and the exported one if a later validation of its epoch replaced
    it (a run stopped mid-epoch by max_steps, then continued)."""
    best = metrics_best(metrics)
    return sorted(metrics["epochs"] + ([] if best in metrics["epochs"] else [best]), key=lambda row: row["step"])


def body(settings, metrics: dict, sizes: dict, precision: str) -> str:
    best = metrics_best(metrics)
    corpus = get_corpus(settings.corpus)
    sample = is_sample_run(settings)
    size = lambda split: f"{sizes[split]:,}" if split in sizes else "?"  # noqa: E731
    warning = ("> **파이프라인 점검용 / pipeline check only.** 이 폴더는 강의 패키지에 들어 있는 작은 샘플 말뭉치와 무작위로 "
               "초기화한 작은 모델로 학습 과정이 끝까지 도는지 확인한 결과입니다. 모델이 아닙니다: 예측을 믿지 마세요.\n"
               "> This folder comes from the course's bundled sample corpus and a tiny randomly initialised model; "
               "it checks that training runs end to end. It is not a model: do not trust its predictions.\n\n"
               if sample else "")
    labels = "\n".join(f"| {i} | {name} | {LABELS_KO[name]} |" for i, name in enumerate(LABELS))
    epochs = "\n".join(  # the values exactly as metrics.json holds them
        f"| {row['epoch']}{' (best)' if row == best else ''} | {row['step']} "
        f"| {row['val_loss']} | {row['val_acc']} | {row['macro_f1']} |" for row in validations(metrics))
    title = corpus.title or corpus.name
    hub_link = f" ([{corpus.hub_dataset[0]}](https://huggingface.co/datasets/{corpus.hub_dataset[0]}))" if corpus.hub_dataset else ""
    corpus_line = "강의 패키지의 샘플 말뭉치 / the course's bundled sample" if sample else \
        f"{title}{hub_link}, {corpus.license or 'license: see the corpus'}"
    return f"""# {Path(settings.model_name).name} · {title} 문장 쌍 분류 / sentence-pair classification

{warning}전제(premise)와 가설(hypothesis) 두 문장을 읽고, 가설이 전제로 보아 참(entailment)인지, 거짓(contradiction)인지,
중립(neutral)인지 판단하는 모델입니다. 「Do it! BERT와 GPT로 배우는 자연어 처리」 3장의 실습을 잇는 강의 패키지
`nlpbook_helpers`로 학습했습니다.
Given a premise and a hypothesis, the model says whether the hypothesis is entailed by, contradicts, or is neutral to
the premise. Trained with the course package `nlpbook_helpers`.

## 학습 / Training

| | |
|---|---|
| 기반 모델 / base model | `{settings.model_name}` |
| 말뭉치 / corpus | {corpus_line} |
| 학습 쌍 / training pairs | {size('train')} |
| 검증 쌍 / validation pairs | {size('dev')} |
| max_seq_length | {settings.max_seq_length} |
| batch_size | {settings.batch_size} |
| learning_rate | {settings.learning_rate} ({settings.schedule} schedule) |
| epochs | {settings.epochs} |
| seed | {settings.seed} |
| precision | {precision} |

## 레이블 / Labels

| id | label | 한국어 |
|---|---|---|
{labels}

책의 순서(entailment 0, contradiction 1, neutral 2)입니다. Hub의 `klue/klue` nli 데이터셋 순서(entailment 0, neutral 1,
contradiction 2)와 다르니, 레이블은 id가 아니라 이름으로 읽으세요. `config.json`의 `id2label`/`label2id`가 이 이름을 담고 있습니다.
This is the book's order, not the one of the Hub's `klue/klue` nli dataset (entailment 0, neutral 1, contradiction 2):
read labels by name, as `config.json`'s `id2label`/`label2id` give them.

## 검증 결과 / Validation

| epoch | step | val_loss | val_acc | macro F1 |
|---|---|---|---|---|
{epochs}

검증 정확도(val_acc)가 가장 높은 에폭({best['epoch']}, 스텝 {best['step']})의 모델을 골랐습니다(KLUE-NLI의 공식 지표가
정확도입니다). 검증 세트로 에폭을 골랐으므로 이 세트의 정확도는 실제보다 조금 높게 나옵니다.
The model of the epoch with the highest validation accuracy ({best['epoch']}, step {best['step']}) was kept (accuracy is
KLUE-NLI's official metric). The validation set chose the epoch, so its figure is slightly optimistic.

## 쓰임새와 한계 / Intended use and limits

- 한국어 문장 쌍의 관계를 배우고 실험하는 용도입니다. 사람에 대한 판단이나 사실 확인에 쓰지 마세요.
  For learning and experimenting with Korean sentence-pair classification; not for decisions about people or fact-checking.
- 시드 하나로 한 번 학습한 결과입니다. 시드를 바꾸면 정확도가 조금 달라집니다.
  One training run with one seed; another seed gives a slightly different accuracy.
- KLUE-NLI의 문장은 뉴스, 위키백과, 영화 리뷰 등에서 왔습니다. 다른 종류의 글에서는 정확도가 떨어질 수 있습니다. KorNLI의 학습 쌍은
  영어 데이터를 기계 번역한 것입니다.
  KLUE-NLI's sentences come from news, Wikipedia, reviews and a few other genres; other text may score lower.
  KorNLI's training pairs are machine-translated from English.
- 한 쌍에서 앞쪽 {settings.max_seq_length} 토큰만 읽습니다(토크나이저의 `model_max_length`). 더 긴 쌍은 `truncation=True`로
  잘라 넣으세요. Only the first {settings.max_seq_length} tokens of a pair are read (the tokenizer's `model_max_length`):
  pass longer pairs with `truncation=True`.

## 불러오기 / How to load

```python
from transformers import pipeline

classifier = pipeline("text-classification", model="runs/paircls/best")  # 이 폴더, 또는 Hub 이름 / this folder or its Hub name
# the three labels with their probabilities; truncation=True cuts a long pair at the training length
classifier({{"text": "전제 문장", "text_pair": "가설 문장"}}, top_k=None, truncation=True)
```
"""
