"""Corpus files that are wrong in every way we could think of, and a few hundred generated ones.

Each must end the command in one line on stderr and exit code 2, never a traceback. The cases go through
`main()`, the function `python -m nlpbook_helpers` runs: `train` for the named cases, `evaluate` for the
generated ones (it reads the corpus before it loads a model, so a few hundred files take seconds).
"""

import json
import random
import time

import pytest

from nlpbook_helpers.cli import main
from nlpbook_helpers.corpora.kornli import HEADER

from expect import one_line

GOOD = {"guid": "g", "genre": "news", "premise": "비가 많이 온다.", "hypothesis": "날씨가 궂다.", "gold_label": "entailment"}
TRAIN, DEV = "klue-nli-v1.1_train.json", "klue-nli-v1.1_dev.json"


def klue_dir(tmp_path, train, dev):
    folder = tmp_path / "klue"
    folder.mkdir(exist_ok=True)
    for name, body in ((TRAIN, train), (DEV, dev)):
        path = folder / name
        if isinstance(body, dict):  # "a directory"
            path.mkdir()
        else:
            path.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("work")  # one tiny model for all the training cases


@pytest.mark.parametrize("train, dev, words", [
    ([], [GOOD] * 3, f"{TRAIN} holds no records"),
    ([GOOD] * 3, [], f"{DEV} holds no records"),
    (b"[" * 100_000 + b"]" * 100_000, [GOOD], "nested too deeply"),
    (b'[{"premise": "a", "hypothesis": "b", "gold_label": ' + b"9" * 10_000 + b"}]", [GOOD], "not readable KLUE-NLI JSON"),
    ([{**GOOD, "premise": "\ud800 홀로 남은 서로게이트"}], [GOOD], "'premise' holds a lone surrogate"),
    ({}, [GOOD], f"{TRAIN} cannot be read as a corpus file (Is a directory)"),  # the train "file" is a directory
])
def test_a_bad_corpus_stops_train_with_one_line(work, tmp_path, capsys, train, dev, words):
    data_dir = klue_dir(tmp_path, train, dev)
    code = main(["train", "--sample", "--work-dir", str(work), "--data-dir", str(data_dir), "--accelerator", "cpu",
                 "--epochs", "1"])
    line = one_line(capsys)
    assert code == 2 and words in line


# --- generated files ------------------------------------------------------------------------

def klue_bodies(rng: random.Random):
    """Malformed KLUE-NLI JSON files, each made by one of several kinds of damage."""
    records = [dict(GOOD, guid=f"g{i}") for i in range(4)]
    good = json.dumps(records, ensure_ascii=False).encode()
    values = [None, 0, -1.5, 10**30, [], {}, "", "   ", True, ["a"], {"premise": "x"}, "\ud800"]

    def field_value():
        records_ = [dict(r) for r in records]
        records_[rng.randrange(4)][rng.choice(["premise", "hypothesis", "gold_label"])] = rng.choice(values)
        return json.dumps(records_).encode()

    def missing_key():
        records_ = [dict(r) for r in records]
        del records_[rng.randrange(4)][rng.choice(["premise", "hypothesis", "gold_label"])]
        return json.dumps(records_, ensure_ascii=False).encode()

    kinds = [
        lambda: good[: rng.randrange(1, len(good) - 1)],  # cut off
        lambda: good.replace(b"entailment", rng.choice([b"Entailment", b"-", b"yes", b"entail"]), 1),
        field_value,
        missing_key,
        lambda: json.dumps(rng.choice([{}, "text", 3, None, {"data": records}, []])).encode(),
        lambda: b"[" * rng.randrange(2_000, 200_000),
        lambda: json.dumps(records, ensure_ascii=False).encode("utf-8").decode("utf-8").encode("cp949", "replace"),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))),  # noise
        lambda: b"<!DOCTYPE html><html><body>" + str(rng.random()).encode() + b"</body></html>",
        lambda: good[:10] + b"\xff\xfe" + good[10:],  # invalid UTF-8
        lambda: b'[{"premise": ' + b"1" * rng.randrange(4_400, 20_000) + b"}]",  # an integer too long to convert
        lambda: json.dumps([dict(GOOD, premise="x" * 10, hypothesis=rng.choice(["", " ", "\t\n"]))]).encode(),
    ]
    return kinds


def kornli_bodies(rng: random.Random):
    header = "\t".join(HEADER) + "\n"
    lines = ["아이들이 논다.\t아이들이 밖에 있다.\tentailment", "비가 온다.\t해가 쨍쨍하다.\tcontradiction"]
    good = (header + "\n".join(lines) + "\n").encode()

    def bad_line():
        line = rng.choice([
            "한 칸만 있다", "두\t칸", "네\t칸\t이\t다", "전제\t가설\t" + rng.choice(["-", "neutral ", "Neutral", "", "2"]),
        ])
        body = lines[:]
        body.insert(rng.randrange(len(body) + 1), line)
        return (header + "\n".join(body) + "\n").encode()

    return [
        lambda: good[: rng.randrange(0, len(header))],  # cut inside the header
        lambda: good[: rng.randrange(len(header) + 1, len(good) - 1)].rstrip(b"\t") + b"\tmaybe\n",
        bad_line,
        lambda: header.encode(),  # a header and no pairs
        lambda: (header.replace("gold_label", rng.choice(["label", "gold", ""])) + lines[0]).encode(),
        lambda: good.decode().encode("cp949", "replace").replace(b"sentence1", b"\xb0\xa1sentence1"),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))),
        lambda: b"<html><body>429 Too Many Requests</body></html>",
        lambda: (header + "그림\tN/A\tneutral\n" * rng.randrange(1, 4)).encode(),  # only pairs without a sentence
        lambda: good.replace(b"\n", b"\r", rng.randrange(1, 3)) + b"\x00",
    ]


def test_a_few_hundred_generated_bad_files_each_end_in_one_line(tmp_path, capsys):
    rng = random.Random(2024)
    start, refused_by_file, total = time.monotonic(), 0, 0
    for corpus, kinds, target in (("klue-nli", klue_bodies(rng), DEV), ("kornli", kornli_bodies(rng), "xnli.test.ko.tsv")):
        for i in range(200):
            folder = tmp_path / f"{corpus}-{i}"
            path = folder / ("kornli" if corpus == "kornli" else "") / target
            path.parent.mkdir(parents=True)
            path.write_bytes(kinds[i % len(kinds)]())
            code = main(["evaluate", "--corpus", corpus, "--model-dir", str(tmp_path / "no-model"),
                         "--data-dir", str(folder)])
            line = one_line(capsys)
            assert code == 2, line
            refused_by_file += str(path.parent) in line
            total += 1
    elapsed = time.monotonic() - start
    print(f"{total} generated files, {refused_by_file} refused for their content, {elapsed:.1f} s")
    assert refused_by_file >= 0.95 * total  # the rest were well-formed by chance and failed on the missing model


def test_a_2_gb_train_file_is_refused_before_it_is_read(tmp_path):
    """A sparse 2 GB file takes no disk; read and parsed whole, it peaked at 4.6 GB of memory (Colab has 12.7)."""
    import subprocess
    import sys

    data_dir = klue_dir(tmp_path, [GOOD], [GOOD])
    with open(data_dir / TRAIN, "r+b") as file:
        file.truncate(2 * 2**30)
    args = ["train", "--sample", "--epochs", "1", "--data-dir", str(data_dir), "--work-dir", str(tmp_path / "work")]
    script = ("import resource, sys; from nlpbook_helpers.cli import main; code = main(sys.argv[1:]); "
              "print('peak MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert f"{TRAIN} is far too large for a KLUE-NLI file (2.0 GB" in result.stderr
    peak_mb = int(result.stdout.split("peak MB")[-1])
    print(f"peak {peak_mb} MB")
    assert peak_mb < 1500, peak_mb  # what the libraries take, not the file
