"""The corpora a run can train on (each a `corpus.Corpus`), by name: the one place a new corpus is added."""

from pathlib import Path

from ..corpus import KLUE_NLI, Corpus
from ..support.errors import NlpbookError
from .kornli import KORNLI

CORPORA: dict[str, Corpus] = {corpus.name: corpus for corpus in (KLUE_NLI, KORNLI)}
DEFAULT_CORPUS = KLUE_NLI.name


def get_corpus(name: str) -> Corpus:
    if name not in CORPORA:
        raise NlpbookError(f"corpus={name!r}: 지원하지 않는 값입니다. 다음 중 하나를 쓰세요: {', '.join(CORPORA)}",
                           f"corpus={name!r} is not supported; use one of: {', '.join(CORPORA)}")
    return CORPORA[name]


def corpus_identity(name: str, data_dir: str | Path) -> str:
    """The train and dev files by name and git blob id (hashed once per run): 'klue-nli-v1.1_train.json a7903d15f09a'"""
    from ..support.download import file_id
    return ", ".join(f"{path.name} {file_id(path)[:12]}"
                     for split in ("train", "dev") for path in get_corpus(name).paths(data_dir, split))
