"""A third corpus is one description: written here, registered by name, trained on with no other module touched.

"Toy-NLI" is a made-up format (one `premise | hypothesis | label` a line) so nothing about it can come
from KLUE-NLI's or KorNLI's code: its reader, files, ids and folders live in this test.
"""

import hashlib
import json
from pathlib import Path

from nlpbook_helpers import corpora
from nlpbook_helpers.cli import main
from nlpbook_helpers.corpus import LABEL2ID, SAMPLE_DATA_DIR, Corpus, CorpusFile, NliExample
from nlpbook_helpers.support.errors import NlpbookError


def read_toy(path: Path) -> list[NliExample]:
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        fields = [field.strip() for field in line.split(" | ")]
        if len(fields) != 3 or fields[2] not in LABEL2ID:
            raise NlpbookError(f"{path}의 {number}번째 줄이 잘못되었습니다.", f"{path}, line {number} is not a toy pair.")
        examples.append(NliExample(fields[0], fields[1], LABEL2ID[fields[2]], "toy"))
    return examples


def toy_lines(split: str) -> bytes:
    records = json.loads((SAMPLE_DATA_DIR / f"klue-nli-v1.1_{split}.json").read_text(encoding="utf-8"))
    return "".join(f"{r['premise']} | {r['hypothesis']} | {r['gold_label']}\n" for r in records).encode()


def write_toy_sample(work_dir: Path) -> Path:
    folder = Path(work_dir) / "toy-sample"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        (folder / f"toy-{split}.txt").write_bytes(toy_lines(split))
    return folder


def toy_corpus(mirror_url: str) -> Corpus:
    files = {split: CorpusFile(f"toy-{split}.txt", toy_lines(split).count(b"\n"),
                               hashlib.sha1(b"blob %d\0" % len(toy_lines(split)) + toy_lines(split)).hexdigest())
             for split in ("train", "dev")}
    return Corpus(name="toy", base_url=mirror_url, train=(files["train"],), dev=(files["dev"],), test=(files["dev"],),
                  read=read_toy, data_folder="toy", run_folder="paircls-toy", write_sample=write_toy_sample)


def test_a_third_corpus_downloads_trains_and_evaluates(http_server, tmp_path, monkeypatch, capsys):
    http_server.routes = {f"/toy/toy-{split}.txt": [(200, toy_lines(split))] for split in ("train", "dev")}
    monkeypatch.setitem(corpora.CORPORA, "toy", toy_corpus(f"{http_server.url}/toy"))
    monkeypatch.setenv("NLPBOOK_WORK_DIR", str(tmp_path / "work"))

    assert main(["download", "--corpus", "toy"]) == 0  # from its own base_url, verified by its ids
    data_dir = tmp_path / "work" / "toy"
    assert sorted(path.name for path in data_dir.iterdir()) == ["toy-dev.txt", "toy-train.txt"]

    assert main(["train", "--sample", "--corpus", "toy", "--data-dir", str(data_dir), "--accelerator", "cpu",
                 "--epochs", "3"]) == 0
    output = tmp_path / "work" / "runs" / "sample-toy"
    metrics = json.loads((output / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 3 and (output / "best" / "model.safetensors").exists()
    assert list((tmp_path / "work" / "cache").glob("toy-train-*.safetensors"))

    report = tmp_path / "toy.json"
    assert main(["evaluate", "--corpus", "toy", "--model-dir", str(output / "best"), "--output", str(report)]) == 0
    assert sum(map(sum, json.loads(report.read_text())["confusion_matrix"])) == toy_lines("dev").count(b"\n")
    assert "error" not in capsys.readouterr().err
