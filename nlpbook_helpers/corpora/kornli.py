"""KorNLI, the optional larger corpus: Kakao Brain's Korean MultiNLI, SNLI and XNLI (CC BY-SA 4.0), 942,854 pairs
to train on. Korpora 0.2.0's download checks no hash, so the files are fetched as KLUE-NLI's are, into ROOT/kornli/
(ROOT: `Settings.data_dir`) where Korpora looks, and read by Korpora's functions.
"""

import json
import warnings
from pathlib import Path

from ..corpus import (AGAIN_EN, AGAIN_KO, LABEL2ID, LABELS, SAMPLE_DATA_DIR, Corpus, CorpusFile, NliExample,
                      sample_dir)
from ..support.drive_files import atomic_write
from ..support.errors import NlpbookError
from ..support.korean import josa
from ..support.log import get_logger

FOLDER = "kornli"  # under the root, as in Korpora
HEADER = ["sentence1", "sentence2", "gold_label"]
FILES = {  # pair counts (lines after the header) and git blob ids at the repository's master
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
    """The pairs of one KorNLI TSV file; pairs without a sentence teach nothing, so they are left out and logged."""
    examples, lines = _parse(Path(path))
    if lines > len(examples):
        get_logger().info(f"{Path(path).name}: 문장이 없는 쌍('N/A' 또는 빈 칸) {lines - len(examples):,}개를 뺐습니다")
    return examples


def count(path: Path) -> int:
    """Lines after the header, pairs left out included: what a download must hold."""
    return _parse(Path(path))[1]


def _parse(path: Path) -> tuple[list[NliExample], int]:
    """(examples, lines after the header), split by Korpora; a bad line is reported with its file and number."""
    try:
        with open(path, encoding="utf-8-sig") as file:  # a byte-order mark is allowed, as Korpora skips it too
            if file.readline().rstrip("\n").split("\t") != HEADER:
                raise _bad_line(path, 1, "KorNLI의 머리글(sentence1, sentence2, gold_label)이 아닙니다", "not KorNLI's "
                                "header (sentence1, sentence2, gold_label): not a KorNLI TSV file (an error page?)")
        with warnings.catch_warnings():  # Korpora's invalid escape ('[\\S ]+'), reported as it is compiled
            warnings.filterwarnings("ignore", message="invalid escape sequence")
            from Korpora.korpus_kornli import KorNLIKorpus
            from Korpora.utils import load_text
        lines = load_text(str(path), num_heads=1)
    except (OSError, UnicodeDecodeError) as error:
        raise NlpbookError(f"{josa(path, '을/를')} KorNLI TSV로 읽을 수 없습니다({error}). {AGAIN_KO}",
                           f"{path} is not readable as KorNLI TSV ({error}): {AGAIN_EN}") from error
    if not lines:
        raise _bad_line(path, 2, "문장 쌍이 하나도 없습니다", "no pairs after the header")
    try:  # `cleaning` uses no instance state (a KorNLIKorpus would open the four URLs)
        premises, hypotheses, labels = KorNLIKorpus.cleaning(None, lines)
    except ValueError:  # Korpora's message counts lines from 0 after the header; ours names the line
        number, fields = next((i, n) for i, line in enumerate(lines, start=2) if (n := len(line.split("\t"))) != 3)
        raise _bad_line(path, number, f"탭으로 나뉜 칸이 3개(전제, 가설, 레이블)여야 하는데 {fields}개입니다",
                        f"expected 3 tab-separated fields (sentence1, sentence2, gold_label), found {fields}") from None
    examples, genre = [], path.name.split(".")[0].split("_")[0]  # multinli, snli, xnli
    for number, premise, hypothesis, label in zip(range(2, len(lines) + 2), premises, hypotheses, labels):
        if label not in LABEL2ID:
            raise _bad_line(path, number, f"알 수 없는 레이블 {label!r}입니다({', '.join(LABELS)} 중 하나여야 합니다)",
                            f"unknown gold_label {label!r} (expected one of {', '.join(LABELS)})")
        if premise.strip() not in NO_SENTENCE and hypothesis.strip() not in NO_SENTENCE:
            examples.append(NliExample(premise.strip(), hypothesis.strip(), LABEL2ID[label], genre))
    return examples, len(lines)


def _bad_line(path, number, what_ko, what_en) -> NlpbookError:
    return NlpbookError(f"{path}의 {number}번째 줄: {what_ko}. {AGAIN_KO}", f"{path}, line {number}: {what_en}; {AGAIN_EN}")


def load_kornli(root: str | Path, names: tuple[str, ...]) -> list[NliExample]:
    """The pairs of the named files (TRAIN, DEV or TEST), read from ROOT/kornli/ with no network."""
    return KORNLI.load(root, {TRAIN: "train", DEV: "dev", TEST: "test"}[tuple(names)])


def write_kornli_sample(root: str | Path) -> dict[str, CorpusFile]:
    """The bundled sample as the four KorNLI files under ROOT/kornli/, in KorNLI's exact format: its train pairs
    split between the train files, dev between xnli dev and test. Returns them as FILES (no blob ids)."""
    train, dev = (json.loads((SAMPLE_DATA_DIR / f"klue-nli-v1.1_{split}.json").read_text(encoding="utf-8"))
                  for split in ("train", "dev"))
    parts = {"multinli_train": train[: len(train) // 2], "snli_train": train[len(train) // 2 :],
             "xnli_dev": dev[: len(dev) // 2], "xnli_test": dev[len(dev) // 2 :]}
    kornli_dir(root).mkdir(parents=True, exist_ok=True)
    for name, records in parts.items():
        lines = ["\t".join(HEADER)] + [f"{r['premise']}\t{r['hypothesis']}\t{r['gold_label']}" for r in records]
        body, path = ("\n".join(lines) + "\n").encode("utf-8"), kornli_dir(root) / FILES[name].filename
        if not (path.exists() and path.read_bytes() == body):  # DDP ranks call this too: never rewrite in place
            with atomic_write(path, shared=True) as file:
                file.write(body)
    return {name: CorpusFile(FILES[name].filename, len(records), None) for name, records in parts.items()}


def _sample(work_dir: Path) -> Path:
    write_kornli_sample(root := sample_dir(work_dir, KORNLI))
    return root


KORNLI = Corpus(
    name="kornli", base_url="https://raw.githubusercontent.com/kakaobrain/KorNLUDatasets/master/KorNLI",
    train=tuple(FILES[name] for name in TRAIN), dev=tuple(FILES[name] for name in DEV),
    test=tuple(FILES[name] for name in TEST), read=read_kornli, count=count,
    data_folder="korpora", subfolder=FOLDER,  # Korpora's root, and korpora/kornli/ as Korpora lays the files out
    run_folder="paircls-kornli", write_sample=_sample,
    title="KorNLI", license="cc-by-sa-4.0", hub_dataset=("kakaobrain/kor_nli", "xnli", "validation"),
)
