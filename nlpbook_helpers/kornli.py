"""KorNLI, the optional larger corpus: download and verify it, then read it with Korpora.

KorNLI is Kakao Brain's Korean translation of MultiNLI, SNLI and XNLI
(CC BY-SA 4.0): 942,854 training pairs (MultiNLI + SNLI train), 2,490 for
validation and 5,010 for testing (XNLI dev and test, translated by people).

Korpora 0.2.0 knows the four files, but its download opens the URL on every
call (so it fails offline even after a complete download), writes straight to
the final path and checks no hash. So they are fetched here the way KLUE-NLI is
(`corpus.fetch`: a `.part` file, retries, verification, then a rename) into
`ROOT/kornli/`, the folder `Korpora.KorNLIKorpus(root_dir=ROOT)` reads, and
Korpora's own functions read them. ROOT is `Settings.data_dir` for this corpus.
"""

import hashlib
import shlex
import warnings
from pathlib import Path

from .corpus import LABEL2ID, LABELS, NliExample, Split, fetch
from .errors import NlpbookError
from .runtime import get_logger

KORNLI_BASE_URL = "https://raw.githubusercontent.com/kakaobrain/KorNLUDatasets/master/KorNLI"
FOLDER = "kornli"  # under the root, as in Korpora
HEADER = ["sentence1", "sentence2", "gold_label"]

# The xnli files are verified by their sha256 at the repository's master. The two
# train files could not be fetched where this was written, so they are verified by
# their header, the three fields and the label of every line, and their pair counts.
FILES = {
    "multinli_train": Split("multinli.train.ko.tsv", 392_702, None),
    "snli_train": Split("snli_1.0_train.ko.tsv", 550_152, None),
    "xnli_dev": Split("xnli.dev.ko.tsv", 2_490, "821fb1c1c2e538ac2724a6132da36ffa379eb9a542ceb89243b3cf711377382c"),
    "xnli_test": Split("xnli.test.ko.tsv", 5_010, "0db53cf8e182283a0d0404ec3fe1b15d1e29236d23d22082dc20d43067254b3e"),
}
TRAIN, DEV, TEST = ("multinli_train", "snli_train"), ("xnli_dev",), ("xnli_test",)
NO_SENTENCE = {"", "N/A"}  # SNLI's pairs whose picture could not be described: "N/A" as the hypothesis


def kornli_dir(root: str | Path) -> Path:
    return Path(root) / FOLDER


def read_kornli(path: str | Path) -> list[NliExample]:
    """The pairs of one KorNLI TSV file, split by Korpora, with labels mapped by name.

    Pairs without a sentence (SNLI's "N/A" hypotheses, each present with all
    three labels) teach nothing, so they are left out and counted in the log.
    """
    examples, left_out = _parse(Path(path))
    if left_out:
        get_logger().info(f"{Path(path).name}: left out {left_out} pairs without a sentence ('N/A' or empty)")
    return examples


def _parse(path: Path) -> tuple[list[NliExample], int]:
    """(examples, pairs left out). A bad line is reported with the file and its 1-based line number."""
    _check_header(path)
    load_text, split_fields = _korpora()
    try:
        lines = load_text(str(path), num_heads=1)
    except (OSError, UnicodeDecodeError) as error:
        raise _unreadable(path, error) from error
    if not lines:
        raise _bad_line(path, 2, "문장 쌍이 하나도 없습니다", "no pairs after the header")
    try:
        premises, hypotheses, labels = split_fields(lines)
    except ValueError:  # Korpora's message counts lines from 0 after the header; ours names the line
        number, line = next((i, line) for i, line in enumerate(lines, start=2) if len(line.split("\t")) != 3)
        fields = len(line.split("\t"))
        raise _bad_line(path, number, f"탭으로 나뉜 칸이 3개(전제, 가설, 레이블)여야 하는데 {fields}개입니다",
                        f"expected 3 tab-separated fields (sentence1, sentence2, gold_label), found {fields}") from None
    examples, genre = [], path.name.split(".")[0].split("_")[0]  # multinli, snli, xnli
    for number, premise, hypothesis, label in zip(range(2, len(lines) + 2), premises, hypotheses, labels):
        if label not in LABEL2ID:
            raise _bad_line(path, number, f"알 수 없는 레이블 {label!r}입니다({', '.join(LABELS)} 중 하나여야 합니다)",
                            f"unknown gold_label {label!r} (expected one of {', '.join(LABELS)})")
        if premise.strip() in NO_SENTENCE or hypothesis.strip() in NO_SENTENCE:
            continue
        examples.append(NliExample(premise.strip(), hypothesis.strip(), LABEL2ID[label], genre))
    return examples, len(lines) - len(examples)


def _korpora():
    """Korpora's line reader and KorNLI field splitter.

    `KorNLIKorpus.cleaning` uses no instance state, so it is called on the
    class: constructing a KorNLIKorpus would open the four URLs first.
    Korpora's package holds a string literal with an invalid escape
    (`'[\\S ]+'`), which Python reports when it compiles the file (no cached
    bytecode): a SyntaxWarning from 3.12, a DeprecationWarning before. Only
    that message is silenced, only for the import.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="invalid escape sequence", category=SyntaxWarning)
        warnings.filterwarnings("ignore", message="invalid escape sequence", category=DeprecationWarning)
        from Korpora.korpus_kornli import KorNLIKorpus
        from Korpora.utils import load_text

    return load_text, lambda lines: KorNLIKorpus.cleaning(None, lines)


def _check_header(path: Path) -> None:
    if not _has_header(path):
        raise _bad_line(path, 1, "KorNLI의 머리글(sentence1, sentence2, gold_label)이 아닙니다",
                        "not KorNLI's header (sentence1, sentence2, gold_label): not a KorNLI TSV file (an error page?)")


def _has_header(path: Path) -> bool:
    """Whether the first line is KorNLI's header (a byte-order mark before it is allowed, as Korpora skips it too)."""
    try:
        with open(path, encoding="utf-8-sig") as file:
            return file.readline().rstrip("\n").split("\t") == HEADER
    except (OSError, UnicodeDecodeError) as error:
        raise _unreadable(path, error) from error


def _unreadable(path, error) -> NlpbookError:
    return NlpbookError(
        f"{path}을(를) KorNLI TSV로 읽을 수 없습니다({error}). 파일을 지우고 다시 내려받으세요.",
        f"{path} is not readable as KorNLI TSV ({error}): delete it and download it again.",
    )


def _bad_line(path, number, what_ko, what_en) -> NlpbookError:
    return NlpbookError(
        f"{path}의 {number}번째 줄: {what_ko}. 파일을 지우고 다시 내려받으세요.",
        f"{path}, line {number}: {what_en}; delete the file and download it again.",
    )


def problem(path: Path, split: Split) -> str | None:
    """What is wrong with a downloaded KorNLI file, or None if it is the real thing (corpus.fetch's check)."""
    if split.sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != split.sha256:
            try:
                looks_right = _has_header(path)
            except NlpbookError:
                looks_right = False
            return "sha256 mismatch" if looks_right else "not a KorNLI TSV file (an error page?)"
    try:
        examples, left_out = _parse(path)
    except NlpbookError as error:
        return error.en
    if len(examples) + left_out != split.records:
        return f"expected {split.records} pairs, got {len(examples) + left_out} (truncated?)"
    return None


def download_kornli(root: str | Path, base_url: str = KORNLI_BASE_URL, files: dict[str, Split] | None = None,
                    retries: int = 4, backoff: float = 2.0) -> dict[str, Path]:
    """Fetch the four files into ROOT/kornli/ unless valid copies are already there.

    `base_url` is a folder holding the four file names (a mirror, or a test
    server). `files` holds what each file must be; None means FILES, the real
    KorNLI's counts and hashes.
    """
    files = files or FILES
    folder = kornli_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, split in files.items():
        dest = folder / split.filename
        if not (dest.exists() and problem(dest, split) is None):
            fetch(f"{base_url.rstrip('/')}/{split.filename}", dest, split, retries, backoff, check=problem)
        paths[name] = dest
    return paths


def load_kornli(root: str | Path, names: tuple[str, ...]) -> list[NliExample]:
    """The pairs of the named files, in order (TRAIN, DEV or TEST), read from ROOT/kornli/ with no network."""
    examples = []
    for name in names:
        path = kornli_dir(root) / FILES[name].filename
        if not path.exists():
            download = f"python -m nlpbook_helpers download --corpus kornli --data-dir {shlex.quote(str(root))}"
            raise NlpbookError(
                f"{path}이(가) 없습니다. 다음 명령으로 KorNLI를 먼저 내려받으세요: {download}",
                f"{path} does not exist: download KorNLI first with {download}",
            )
        examples += read_kornli(path)
    return examples


def ensure_kornli(root: str | Path, **download) -> tuple[list[NliExample], list[NliExample]]:
    """Train (MultiNLI + SNLI) and dev (XNLI dev) pairs, downloading first only if a file is missing."""
    ensure_downloaded(root, **download)
    return load_kornli(root, TRAIN), load_kornli(root, DEV)


def ensure_downloaded(root: str | Path, **download) -> None:
    """Download unless all four files are there (they were verified when they were written): no network then."""
    if not all((kornli_dir(root) / split.filename).exists() for split in FILES.values()):
        download_kornli(root, **download)
