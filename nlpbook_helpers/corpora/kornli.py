"""KorNLI, the optional larger corpus: download and verify it, then read it with Korpora.

KorNLI is Kakao Brain's Korean translation of MultiNLI, SNLI and XNLI
(CC BY-SA 4.0): 942,854 training pairs (MultiNLI + SNLI train), 2,490 for
validation and 5,010 for testing (XNLI dev and test, translated by people).

Korpora 0.2.0 knows the four files, but its download opens the URL on every
call (so it fails offline even after a complete download), writes straight to
the final path and checks no hash. So they are fetched here the way KLUE-NLI is
(support/download.py: a `.part` file, verified by git blob id, then a rename) into
`ROOT/kornli/`, the folder `Korpora.KorNLIKorpus(root_dir=ROOT)` reads, and
Korpora's own functions read them. ROOT is `Settings.data_dir` for this corpus.
"""

import json
import os
import warnings
from pathlib import Path

from ..corpus import LABEL2ID, LABELS, SAMPLE_DATA_DIR, Corpus, CorpusFile, NliExample
from ..support.drive_files import replace_file
from ..support.errors import NlpbookError
from ..support.log import get_logger
from ..support.korean import josa

FOLDER = "kornli"  # under the root, as in Korpora
HEADER = ["sentence1", "sentence2", "gold_label"]

# Pair counts (lines after the header) and git blob ids at the repository's master.
FILES = {
    "multinli_train": CorpusFile("multinli.train.ko.tsv", 392_702, "94d26a9d0dd045928148ef8691a256bd0e7d45c3"),
    "snli_train": CorpusFile("snli_1.0_train.ko.tsv", 550_152, "c91761e52fca2a7420104589811346986ce94073"),
    "xnli_dev": CorpusFile("xnli.dev.ko.tsv", 2_490, "21305150d466aa35d42b14e1890b7dcd58084634"),
    "xnli_test": CorpusFile("xnli.test.ko.tsv", 5_010, "89a0b11bffa775fafd88178b3980a1fe2d8aee52"),
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
        get_logger().info(f"{Path(path).name}: 문장이 없는 쌍('N/A' 또는 빈 칸) {left_out:,}개를 뺐습니다")
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
        f"{josa(path, '을/를')} KorNLI TSV로 읽을 수 없습니다({error}). 파일을 지우고 다시 내려받으세요.",
        f"{path} is not readable as KorNLI TSV ({error}): delete it and download it again.",
    )


def _bad_line(path, number, what_ko, what_en) -> NlpbookError:
    return NlpbookError(
        f"{path}의 {number}번째 줄: {what_ko}. 파일을 지우고 다시 내려받으세요.",
        f"{path}, line {number}: {what_en}; delete the file and download it again.",
    )


def count(path: Path) -> int:
    """Lines after the header, pairs left out included: what a download must hold."""
    examples, left_out = _parse(Path(path))
    return len(examples) + left_out


def load_kornli(root: str | Path, names: tuple[str, ...]) -> list[NliExample]:
    """The pairs of the named files, in order (TRAIN, DEV or TEST), read from ROOT/kornli/ with no network."""
    split = {TRAIN: "train", DEV: "dev", TEST: "test"}[tuple(names)]
    return KORNLI.load(root, split)


def ensure_kornli(root: str | Path) -> tuple[list[NliExample], list[NliExample]]:
    """Train (MultiNLI + SNLI) and dev (XNLI dev) pairs, downloading first only if a file is missing."""
    KORNLI.ensure(root)
    return KORNLI.load(root, "train"), KORNLI.load(root, "dev")


def write_kornli_sample(root: str | Path) -> dict[str, CorpusFile]:
    """The bundled sample rewritten as the four KorNLI files under ROOT/kornli/, for offline runs.

    KorNLI's exact format (a `sentence1 sentence2 gold_label` header, tab
    separated), from our own sentences: the sample's train pairs split between
    the two train files, its dev pairs between xnli dev and test. Returns what
    each file is, the shape of FILES (with no blob id: these are not KorNLI's).
    """
    train, dev = (json.loads((SAMPLE_DATA_DIR / name).read_text(encoding="utf-8"))
                  for name in ("klue-nli-v1.1_train.json", "klue-nli-v1.1_dev.json"))
    parts = {"multinli_train": train[: len(train) // 2], "snli_train": train[len(train) // 2 :],
             "xnli_dev": dev[: len(dev) // 2], "xnli_test": dev[len(dev) // 2 :]}
    folder = kornli_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, records in parts.items():
        lines = ["\t".join(HEADER)] + [f"{r['premise']}\t{r['hypothesis']}\t{r['gold_label']}" for r in records]
        body = ("\n".join(lines) + "\n").encode("utf-8")
        path = folder / FILES[name].filename
        if not (path.exists() and path.read_bytes() == body):  # DDP ranks call this too: never rewrite in place
            part = path.with_name(f"{path.name}.{os.getpid()}.part")
            part.write_bytes(body)
            replace_file(part, path)
        written[name] = CorpusFile(FILES[name].filename, len(records), None)
    return written


def _sample(work_dir: Path) -> Path:
    root = Path(work_dir) / "sample-korpora"
    write_kornli_sample(root)
    return root


KORNLI = Corpus(
    name="kornli",
    base_url="https://raw.githubusercontent.com/kakaobrain/KorNLUDatasets/master/KorNLI",
    train=tuple(FILES[name] for name in TRAIN),
    dev=tuple(FILES[name] for name in DEV),
    test=tuple(FILES[name] for name in TEST),
    read=read_kornli,
    count=count,
    data_folder="korpora",  # Korpora's root: the files go to korpora/kornli/, as Korpora lays them out
    run_folder="paircls-kornli",
    write_sample=_sample,
    subfolder=FOLDER,
    title="KorNLI",
    license="cc-by-sa-4.0",
    hub_dataset=("kakaobrain/kor_nli", "xnli", "validation"),
)
