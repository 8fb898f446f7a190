"""What a corpus is, and KLUE-NLI, the book's corpus: its files, its reader (book: code 3-6, 3-8).

A `Corpus` describes one corpus in one place, so no other module names one. Labels are mapped by name, never by
position: the Hugging Face copy of KLUE numbers them otherwise.
"""

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .support.errors import NlpbookError
from .support.korean import josa

LABELS = ("entailment", "contradiction", "neutral")  # ids 0, 1, 2, as in the book
LABEL2ID = {name: i for i, name in enumerate(LABELS)}
LABELS_KO = {"entailment": "참", "contradiction": "거짓", "neutral": "중립"}
MAX_JSON_BYTES = 256 * 2**20  # KLUE-NLI's train file is about 10 MB; a 2 GB file read whole would exhaust Colab
SAMPLE_DATA_DIR = Path(__file__).parent / "data"  # the bundled sample, in KLUE-NLI's format (sample.py builds on it)
AGAIN_KO, AGAIN_EN = "파일을 지우고 다시 내려받으세요.", "delete it and download it again."  # for a damaged corpus file


def sample_dir(work_dir, corpus: "Corpus") -> Path:
    """Where the sample is written in another corpus's format (its `write_sample`): WORK_DIR/sample-<data folder>."""
    return Path(work_dir) / f"sample-{corpus.data_folder}"


def is_sample_data(data_dir, corpus: "Corpus") -> bool:
    """Whether data_dir holds the sample (bundled, or as `corpus` writes it): a run on it checks the pipeline only."""
    return Path(data_dir).resolve() == SAMPLE_DATA_DIR.resolve() or Path(data_dir).name == sample_dir("", corpus).name


@dataclass(frozen=True)
class NliExample:
    premise: str
    hypothesis: str
    label: int  # LABEL2ID[gold_label]
    genre: str


@dataclass(frozen=True)
class CorpusFile:
    filename: str
    records: int  # what the corpus's `count` finds in the published file
    blob: str | None  # its git blob id; None for files we write ourselves (the sample, tests)


@dataclass(frozen=True)
class Corpus:
    name: str  # the `corpus` setting
    base_url: str  # a folder holding every file name
    train: tuple[CorpusFile, ...]
    dev: tuple[CorpusFile, ...]  # validation during training
    test: tuple[CorpusFile, ...]  # what `evaluate` scores
    read: Callable[[Path], list[NliExample]]  # one file's pairs; a bad file raises NlpbookError
    data_folder: str  # the default data dir, under the work dir
    run_folder: str  # the default output dir, under WORK_DIR/runs
    write_sample: Callable[[Path], Path]  # the bundled sample in this corpus's layout: work dir -> data dir
    subfolder: str = ""  # where the files lie under the data dir
    count: Callable[[Path], int] | None = None  # records in a file, to verify a download; default: len(read(path))
    fallback: Callable | None = None  # fallback(file, dest, error): another source when base_url fails
    title: str = ""  # how the model card names it
    license: str = ""  # the data's license, as the Hub's metadata writes it
    hub_dataset: tuple[str, str, str] | None = None  # its copy on the Hugging Face Hub: (id, config, validation split)

    def folder(self, data_dir) -> Path:
        return Path(data_dir) / self.subfolder

    def files(self) -> list[CorpusFile]:
        return list(dict.fromkeys(self.train + self.dev + self.test))

    def paths(self, data_dir, split: str) -> list[Path]:
        """The files of a split ("train", "dev" or "test"), downloaded or not."""
        return [self.folder(data_dir) / file.filename for file in getattr(self, split)]

    def records(self, path: Path) -> int:
        return self.count(path) if self.count else len(self.read(path))

    def load(self, data_dir, split: str) -> list[NliExample]:
        """The pairs of a split, read with no network; a missing file says how to download it."""
        for path in self.paths(data_dir, split):
            if not path.exists():
                command = (f"python -m nlpbook_helpers download --corpus {self.name} "
                           f"--data-dir {shlex.quote(str(data_dir))}")
                raise NlpbookError(f"{josa(path, '이/가')} 없습니다. 다음 명령으로 먼저 내려받으세요: {command}",
                                   f"{path} does not exist: download it first with {command}")
        return [example for path in self.paths(data_dir, split) for example in self.read(path)]

    def ensure(self, data_dir) -> None:
        """Download unless every file is there (each was verified when it was written): no network then."""
        if not all(path.exists() for split in ("train", "dev", "test") for path in self.paths(data_dir, split)):
            from .support.download import download
            download(self, data_dir)


def read_klue_nli(path: str | Path) -> list[NliExample]:
    """One KLUE-NLI JSON file, every record checked (the train file names the source `genre`, dev `source`)."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0  # not a file: reading it says what is wrong
    if size > MAX_JSON_BYTES:
        raise NlpbookError(f"{path}: KLUE-NLI 파일(10 MB 안팎)이라기에는 너무 큽니다({size / 2**30:.1f} GB). {AGAIN_KO}",
                           f"{path} is far too large for a KLUE-NLI file ({size / 2**30:.1f} GB): {AGAIN_EN}")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:  # ValueError: bad JSON, huge integers
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)[:200]
        raise NlpbookError(f"{path}: KLUE-NLI JSON으로 읽을 수 없습니다({reason}). {AGAIN_KO}",
                           f"{path} is not readable KLUE-NLI JSON ({reason}): {AGAIN_EN}") from None
    if not records or not isinstance(records, list):
        raise NlpbookError(f"{path}: 레코드가 없습니다(레코드의 JSON 배열이어야 합니다). KLUE-NLI 원본 파일을 쓰세요.",
                           f"{path} holds no records (expected a JSON array of them): use the original KLUE-NLI file.")
    return [_parse_record(record, path, index) for index, record in enumerate(records)]


def _parse_record(record, path, index) -> NliExample:
    """One record as an NliExample; a bad one is explained, naming its file and its place (counted from 1)."""
    def bad(what_ko, what_en):
        return NlpbookError(f"{path}의 {index + 1}번째 레코드: {what_ko}. 그 레코드를 고치거나 지우세요.",
                            f"{path}, record {index + 1}: {what_en}; fix or remove that record.")
    if not isinstance(record, dict):
        raise bad("객체가 아닙니다", "not a JSON object")
    for key, key_ko in (("premise", "전제"), ("hypothesis", "가설")):
        text = record.get(key)
        if not isinstance(text, str) or not text.strip():
            raise bad(f"{key_ko}('{key}'): 없거나 비어 있습니다", f"'{key}' is missing or empty")
        if text.encode("utf-8", "replace").decode() != text:  # JSON allows a lone surrogate ("\ud800"); tokenizers not
            raise bad(f"{key_ko}('{key}'): 짝이 없는 서로게이트 문자가 있습니다", f"'{key}' holds a lone surrogate")
    label = record.get("gold_label")
    if label not in LABELS:
        raise bad(f"알 수 없는 레이블 {label!r}", f"unknown gold_label {label!r} (expected one of {', '.join(LABELS)})")
    return NliExample(record["premise"].strip(), record["hypothesis"].strip(), LABEL2ID[label],
                      str(record.get("genre", record.get("source", ""))))


def _klue_from_hub(file: CorpusFile, dest: Path, first_error: NlpbookError) -> None:
    """Fallback when GitHub fails: fetch the Hugging Face parquet copy and rewrite it as KLUE JSON."""
    from .support.hub import explain_hub_error
    try:
        from huggingface_hub import hf_hub_download
        split = "train" if file.filename.endswith("_train.json") else "validation"
        parquet = hf_hub_download("klue/klue", f"nli/{split}-00000-of-00001.parquet", repo_type="dataset")
    except Exception as error:  # any hub failure leaves the learner without a corpus; say why where we can
        reason = explain_hub_error(error, "klue/klue", "dataset")
        ko, en = (reason.ko, reason.en) if reason else (type(error).__name__,) * 2
        raise NlpbookError(f"{first_error.ko} Hugging Face 사본도 받지 못했습니다: {ko}",
                           f"{first_error.en} The Hugging Face copy failed too: {en}") from error
    parquet_to_klue_json(parquet, dest, file)


def parquet_to_klue_json(parquet_path: str | Path, dest: Path, file: CorpusFile) -> None:
    """A Hugging Face KLUE-NLI parquet file as the official JSON, labels named by its schema; checked before use."""
    import pyarrow.parquet as pq
    from .support.download import problem
    from .support.drive_files import atomic_write
    table = pq.read_table(parquet_path)
    info = json.loads((table.schema.metadata or {}).get(b"huggingface", b"{}"))
    names = info.get("info", {}).get("features", {}).get("label", {}).get("names")
    names = names or ["entailment", "neutral", "contradiction"]  # the hub's documented order
    key = "genre" if dest.name.endswith("_train.json") else "source"
    records = [{"guid": row["guid"], key: row["source"], "premise": row["premise"], "hypothesis": row["hypothesis"],
                "gold_label": names[row["label"]]} for row in table.to_pylist()]
    with atomic_write(dest, "w", encoding="utf-8") as out:  # written as dest.name + ".part"
        out.write(json.dumps(records, ensure_ascii=False))
        out.flush()
        if wrong := problem(dest.with_name(dest.name + ".part"), CorpusFile(file.filename, file.records, None),
                            KLUE_NLI.records):  # the .part is removed, dest never touched
            raise NlpbookError(f"Hugging Face 사본이 올바르지 않습니다({wrong}).",
                               f"The Hugging Face copy is not valid ({wrong}).")


_KLUE_DEV = CorpusFile("klue-nli-v1.1_dev.json", 3_000, "db052b2459c68d1ec57dd1573bfe90a9bb3f8157")
KLUE_NLI = Corpus(
    name="klue-nli", base_url="https://raw.githubusercontent.com/KLUE-benchmark/KLUE/main/klue_benchmark/klue-nli-v1.1",
    train=(CorpusFile("klue-nli-v1.1_train.json", 24_998, "a7903d15f09a3663d8f1d78e68d8d6c10dbd8618"),),
    dev=(_KLUE_DEV,), test=(_KLUE_DEV,),  # KLUE's test labels are not public: evaluate scores dev
    read=read_klue_nli, fallback=_klue_from_hub, data_folder="klue-nli", run_folder="paircls",
    write_sample=lambda work_dir: SAMPLE_DATA_DIR,  # bundled in this very format
    title="KLUE-NLI", license="cc-by-sa-4.0", hub_dataset=("klue/klue", "nli", "validation"),
)


def load_corpus(data_dir: str | Path) -> tuple[list[NliExample], list[NliExample]]:
    """Train and dev examples from a folder holding the two KLUE-NLI files (dev is the validation set)."""
    return KLUE_NLI.load(data_dir, "train"), KLUE_NLI.load(data_dir, "dev")


def ensure_corpus(data_dir: str | Path) -> tuple[list[NliExample], list[NliExample]]:
    """Train and dev examples, downloading the two files first if either is missing (book: code 3-6)."""
    KLUE_NLI.ensure(data_dir)
    return load_corpus(data_dir)
