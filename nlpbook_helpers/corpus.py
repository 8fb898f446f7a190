"""KLUE-NLI: download, verify and read the corpus (book: code 3-6, 3-8).

The book's downloader saved whatever the server sent, so an HTML error page
could end up as the "corpus". Here every file is written to a `.part` file,
checked (sha256 where we know it, JSON structure and record count always) and
only then moved into place. Labels are mapped by name, never by position,
because the Hugging Face copy of KLUE numbers them in another order.
"""

import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from .drive_files import remove_file, replace_file
from .errors import NlpbookError
from .hub import explain_hub_error
from .runtime import get_logger

LABELS = ("entailment", "contradiction", "neutral")  # ids 0, 1, 2, as in the book
LABEL2ID = {name: i for i, name in enumerate(LABELS)}
LABELS_KO = {"entailment": "참", "contradiction": "거짓", "neutral": "중립"}

KLUE_BASE_URL = "https://raw.githubusercontent.com/KLUE-benchmark/KLUE/main/klue_benchmark/klue-nli-v1.1"
HF_REPO = "klue/klue"  # fallback: the Hugging Face parquet copy


@dataclass(frozen=True)
class Split:
    filename: str
    records: int
    sha256: str | None  # None: not known to us, so only structure and count are checked
    hf_parquet: str | None = None  # KLUE-NLI's copy on the Hugging Face hub


SPLITS = {
    # The train file's hash could not be computed where this was written (no
    # access to GitHub), so it is verified by its JSON structure and its
    # 24,998 records instead.
    "train": Split("klue-nli-v1.1_train.json", 24_998, None, "nli/train-00000-of-00001.parquet"),
    "dev": Split(
        "klue-nli-v1.1_dev.json",
        3_000,
        "0699db82be17766b26e199864e6260443e17ec6e91d1870e876419e388f245b1",
        "nli/validation-00000-of-00001.parquet",
    ),
}


@dataclass(frozen=True)
class NliExample:
    premise: str
    hypothesis: str
    label: int  # LABEL2ID[gold_label]
    genre: str


def read_klue_nli(path: str | Path) -> list[NliExample]:
    """Read one KLUE-NLI JSON file, checking every record.

    The train file names the text source `genre`, the dev file `source`; both
    are accepted. A bad record is reported with the file and its index.
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NlpbookError(
            f"{path}: KLUE-NLI JSON으로 읽을 수 없습니다({error}). 파일을 지우고 다시 내려받으세요.",
            f"{path} is not readable KLUE-NLI JSON ({error}): delete it and download it again.",
        ) from error
    if not isinstance(records, list):
        raise NlpbookError(
            f"{path}: 레코드 목록(JSON 배열)이 아닙니다. KLUE-NLI 원본 파일을 쓰세요.",
            f"{path} is not a JSON array of records: use the original KLUE-NLI file.",
        )
    return [_parse_record(record, path, index) for index, record in enumerate(records)]


def _parse_record(record, path, index) -> NliExample:
    """One record as an NliExample. The checks cost nothing on good records; a bad one is explained."""
    try:
        example = NliExample(record["premise"].strip(), record["hypothesis"].strip(), LABEL2ID[record["gold_label"]],
                             str(record.get("genre", record.get("source", ""))))
    except (TypeError, KeyError, AttributeError):  # not an object, a text missing or not a string, a bad label
        raise _bad_record(record, path, index) from None
    if not (example.premise and example.hypothesis):
        raise _bad_record(record, path, index)
    return example


def _bad_record(record, path, index) -> NlpbookError:
    """What is wrong with a record that _parse_record refused, naming its file and its place (counted from 1)."""
    def bad(what_ko, what_en):
        return NlpbookError(
            f"{path}의 {index + 1}번째 레코드: {what_ko}. 그 레코드를 고치거나 지우세요.",
            f"{path}, record {index + 1}: {what_en}; fix or remove that record.",
        )

    if not isinstance(record, dict):
        return bad("객체가 아닙니다", "not a JSON object")
    for key, key_ko in (("premise", "전제"), ("hypothesis", "가설")):
        text = record.get(key)
        if not isinstance(text, str) or not text.strip():
            return bad(f"{key_ko}('{key}'): 없거나 비어 있습니다", f"'{key}' is missing or empty")
    label = record.get("gold_label")
    return bad(f"알 수 없는 레이블 {label!r}", f"unknown gold_label {label!r} (expected one of {', '.join(LABELS)})")


def load_corpus(data_dir: str | Path) -> tuple[list[NliExample], list[NliExample]]:
    """Train and dev examples from a folder holding the two KLUE-NLI files (dev is the validation set)."""
    data_dir = Path(data_dir)
    return tuple(read_klue_nli(data_dir / SPLITS[split].filename) for split in ("train", "dev"))


def ensure_corpus(data_dir: str | Path) -> tuple[list[NliExample], list[NliExample]]:
    """Train and dev examples, downloading the two files first if either is missing (book: code 3-6)."""
    ensure_downloaded(data_dir)
    return load_corpus(data_dir)


def ensure_downloaded(data_dir: str | Path) -> None:
    """Download the two files unless both are there (they were verified when they were written)."""
    if not all((Path(data_dir) / split.filename).exists() for split in SPLITS.values()):
        download_klue_nli(data_dir)


def download_klue_nli(
    data_dir: str | Path, base_url: str = KLUE_BASE_URL, retries: int = 4, backoff: float = 2.0
) -> dict[str, Path]:
    """Fetch the two files into data_dir unless valid copies are already there.

    `base_url` replaces the KLUE GitHub location (a mirror, or a test server)
    and keeps the file names. When the official location fails, the Hugging
    Face parquet copy is tried before giving up.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, split in SPLITS.items():
        dest = data_dir / split.filename
        if not (dest.exists() and _problem(dest, split) is None):
            try:
                fetch(f"{base_url.rstrip('/')}/{split.filename}", dest, split, retries, backoff)
            except NlpbookError as error:
                if base_url != KLUE_BASE_URL:
                    raise
                get_logger().info(f"GitHub failed ({error.en}); trying the Hugging Face copy")
                _fetch_from_hub(dest, split, error)
        paths[name] = dest
    return paths


def fetch(url: str, dest: Path, split: Split, retries: int, backoff: float, check=None) -> None:
    """Download url to dest through dest.part, retrying with exponential backoff.

    `check(path, split)` says what is wrong with a downloaded file, or None
    (KLUE-NLI's check by default; KorNLI passes its own). Nothing is ever left
    at `dest` that failed it; a half-written `.part` from an interrupted run is
    simply overwritten.
    """
    check = check or _problem
    part = dest.with_name(dest.name + ".part")
    problem = "no attempt"
    for attempt in range(retries):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _stream(url, part)
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code} {error.reason}"
            if 400 <= error.code < 500 and error.code != 429:
                break  # a missing file stays missing: no point retrying
            continue
        except (urllib.error.URLError, OSError) as error:
            problem = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
            continue
        problem = check(part, split)
        if problem is None:
            replace_file(part, dest)
            return
    remove_file(part)
    raise NlpbookError(
        f"내려받지 못했습니다: {url} ({problem}). 네트워크를 확인하거나, {split.filename}을(를) 직접 받아 {dest.parent}에 넣으세요.",
        f"Could not download {url} ({problem}). Check the network, or put {split.filename} into {dest.parent} by hand.",
    )


def _stream(url: str, part: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "nlpbook-helpers"})
    with urllib.request.urlopen(request, timeout=60) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=part.name[: -len(".part")], leave=False) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _problem(path: Path, split: Split) -> str | None:
    """What is wrong with a downloaded file, or None if it is the real thing."""
    data = path.read_bytes()
    if split.sha256 is not None and hashlib.sha256(data).hexdigest() != split.sha256:
        return "sha256 mismatch" if data.lstrip()[:1] == b"[" else "not a KLUE-NLI JSON file (an error page?)"
    try:
        records = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not valid JSON (truncated, or an error page)"
    if not isinstance(records, list) or len(records) != split.records:
        return f"expected {split.records} records, got {len(records) if isinstance(records, list) else 'no list'}"
    try:
        read_klue_nli(path)
    except NlpbookError as error:
        return error.en
    return None


def _fetch_from_hub(dest: Path, split: Split, first_error: NlpbookError) -> None:
    """Fallback: fetch the parquet copy from the Hugging Face hub and rewrite it as KLUE JSON."""
    try:
        from huggingface_hub import hf_hub_download

        parquet = hf_hub_download(HF_REPO, split.hf_parquet, repo_type="dataset")
    except Exception as error:  # any hub failure leaves the learner without a corpus; say why where we can
        reason = explain_hub_error(error, HF_REPO, "dataset")
        ko, en = (reason.ko, reason.en) if reason else (type(error).__name__,) * 2
        raise NlpbookError(
            f"{first_error.ko} Hugging Face 사본도 받지 못했습니다: {ko}",
            f"{first_error.en} The Hugging Face copy failed too: {en}",
        ) from error
    parquet_to_klue_json(parquet, dest, split)


def parquet_to_klue_json(parquet_path: str | Path, dest: Path, split: Split) -> None:
    """Rewrite a Hugging Face KLUE-NLI parquet file in the official JSON format.

    The hub numbers labels 0 entailment, 1 neutral, 2 contradiction; the names
    are read from the file's own schema, so the ids are never trusted blindly.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(parquet_path)
    names = _hub_label_names(table.schema.metadata or {})
    key = "genre" if dest.name.endswith("_train.json") else "source"
    records = [
        {"guid": row["guid"], key: row["source"], "premise": row["premise"], "hypothesis": row["hypothesis"],
         "gold_label": names[row["label"]]}
        for row in table.to_pylist()
    ]
    part = dest.with_name(dest.name + ".part")
    part.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    problem = _problem(part, Split(split.filename, split.records, None, split.hf_parquet))
    if problem:
        remove_file(part)
        raise NlpbookError(f"Hugging Face 사본이 올바르지 않습니다({problem}).", f"The Hugging Face copy is not valid ({problem}).")
    replace_file(part, dest)


def _hub_label_names(metadata: dict) -> list[str]:
    info = json.loads(metadata.get(b"huggingface", b"{}"))
    names = info.get("info", {}).get("features", {}).get("label", {}).get("names")
    return names or ["entailment", "neutral", "contradiction"]  # the hub's documented order
