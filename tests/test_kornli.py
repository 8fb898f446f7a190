"""KorNLI: verified download from a mirror on 127.0.0.1, Korpora's parsing, our errors, offline reruns.

The fixture files are written here, in KorNLI's exact format, from our own
sentences. The real files' counts and hashes cannot match them, so the tests
use KorNLI's description with their own facts; one test checks that the real
defaults refuse a fixture.
"""

import dataclasses
import json
import re
import subprocess
import sys

import pytest

from nlpbook_helpers import corpora
from nlpbook_helpers.corpora import kornli
from nlpbook_helpers.corpus import LABEL2ID, CorpusFile
from nlpbook_helpers.support.download import download, fetch, git_blob_id
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.corpora.kornli import FILES, KORNLI, load_kornli, read_kornli

HEADER = "sentence1\tsentence2\tgold_label\n"
PAIRS = [
    ("아이들이 운동장에서 공을 차고 있다.", "아이들이 밖에서 놀고 있다.", "entailment"),
    ("아이들이 운동장에서 공을 차고 있다.", "아이들이 교실에서 잠을 잔다.", "contradiction"),
    ("아이들이 운동장에서 공을 차고 있다.", "아이들은 축구 대회를 준비하고 있다.", "neutral"),
    ('그녀는 "내일 다시 올게요."라고 말했다.', "그녀는 다시 오겠다고 했다.", "entailment"),
]


def ensure(root):
    """Train (MultiNLI + SNLI) and dev (XNLI dev) pairs, downloading first only if a file is missing."""
    KORNLI.ensure(root)
    return KORNLI.load(root, "train"), KORNLI.load(root, "dev")


def tsv(pairs, header=HEADER) -> bytes:
    return (header + "".join(f"{p}\t{h}\t{label}\n" for p, h, label in pairs)).encode("utf-8")


def blob(body: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def described(files: dict) -> "kornli.Corpus":
    """KorNLI's description with other files' facts (what a mirror of ours must serve)."""
    return dataclasses.replace(KORNLI, **{split: tuple(files[name] for name in names)
                                          for split, names in (("train", kornli.TRAIN), ("dev", kornli.DEV),
                                                               ("test", kornli.TEST))})


def fixture_mirror(server, bodies=None):
    """Serve four small KorNLI files under /kornli/ and return KorNLI's description with their facts."""
    bodies = bodies or {name: tsv(PAIRS[: 2 + i % 3]) for i, name in enumerate(FILES)}
    files = {name: CorpusFile(FILES[name].filename, bodies[name].count(b"\n") - 1, blob(bodies[name]))
             for name in FILES}
    server.routes = {f"/kornli/{files[name].filename}": [(200, body)] for name, body in bodies.items()}
    return described(files)


def count_of(files):
    return sum(file.records for file in files)


def test_our_locations_are_korporas():
    from Korpora.korpus_kornli import KORNLI_FETCH_INFORMATION

    ours = {(f"{KORNLI.base_url}/{split.filename}", f"{kornli.FOLDER}/{split.filename}") for split in FILES.values()}
    assert ours == {(info["url"], info["destination"]) for info in KORNLI_FETCH_INFORMATION}


def test_good_mirror_lands_where_korpora_reads_and_parses(http_server, tmp_path):
    mirror = fixture_mirror(http_server)
    paths = download(mirror, tmp_path, f"{http_server.url}/kornli", backoff=0)
    assert {path.parent for path in paths.values()} == {tmp_path / "kornli"}
    assert not list(tmp_path.rglob("*.part"))
    train, dev = ensure(tmp_path)
    assert len(train) == count_of(mirror.train) and len(dev) == count_of(mirror.dev)
    assert [(e.premise, e.hypothesis, e.label) for e in train[:2]] == [
        (p, h, LABEL2ID[label]) for p, h, label in PAIRS[:2]]
    assert {e.genre for e in train} == {"multinli", "snli"} and {e.genre for e in dev} == {"xnli"}
    assert len(load_kornli(tmp_path, kornli.TEST)) == count_of(mirror.test)


def test_rerun_without_network_after_a_complete_download(http_server, tmp_path):
    mirror = fixture_mirror(http_server)
    download(mirror, tmp_path, f"{http_server.url}/kornli", backoff=0)
    hits = len(http_server.hits)
    http_server.shutdown()
    http_server.server_close()  # nothing listens there any more
    train, dev = ensure(tmp_path)
    assert (len(train), len(dev)) == (count_of(mirror.train), count_of(mirror.dev))
    download(mirror, tmp_path, f"{http_server.url}/kornli", backoff=0)  # valid copies: no fetch
    assert len(http_server.hits) == hits == 4


def test_the_real_defaults_refuse_a_fixture(http_server, tmp_path):
    fixture_mirror(http_server)
    with pytest.raises(NlpbookError, match="expected 392702 records, got 2"):
        download(KORNLI, tmp_path, f"{http_server.url}/kornli", retries=1, backoff=0)
    assert not list((tmp_path / "kornli").iterdir())


def test_a_mirror_serving_other_bytes_is_told_so(http_server, tmp_path):
    mirror = fixture_mirror(http_server)
    other = tsv(PAIRS[:4][::-1])  # the right pair count (4), other bytes
    http_server.routes["/kornli/xnli.dev.ko.tsv"] = [(200, other)]
    with pytest.raises(NlpbookError) as caught:
        download(mirror, tmp_path, f"{http_server.url}/kornli", backoff=0)
    assert f"git blob {blob(other)}, expected {mirror.dev[0].blob} (a mirror serving other bytes?)" in caught.value.en
    assert not (tmp_path / "kornli" / "xnli.dev.ko.tsv").exists()


@pytest.mark.parametrize("body, problem", [
    (tsv(PAIRS)[:-12], "line 5: expected 3 tab-separated fields"),  # cut inside the last line
    (tsv(PAIRS[:3]), "expected 4 records, got 3"),  # cut at a line's end
    (b"<!DOCTYPE html><html><body>429 Too Many Requests</body></html>", "not KorNLI's header"),
])
def test_truncated_or_html_download_never_leaves_a_file(http_server, tmp_path, body, problem):
    http_server.routes = {"/x.tsv": [(200, body)]}
    dest = tmp_path / "xnli.dev.ko.tsv"
    with pytest.raises(NlpbookError, match=re.escape(problem)):
        fetch(f"{http_server.url}/x.tsv", dest, CorpusFile(dest.name, 4, None), kornli.count, retries=2, backoff=0)
    assert list(tmp_path.iterdir()) == [] and len(http_server.hits) == 1


def test_html_page_with_a_known_id_is_called_an_error_page(http_server, tmp_path):
    http_server.routes = {"/x.tsv": [(200, b"<html>rate limited</html>")]}
    with pytest.raises(NlpbookError, match=r"not a KorNLI TSV file \(an error page\?\)"):
        fetch(f"{http_server.url}/x.tsv", tmp_path / "x.tsv", FILES["xnli_test"], kornli.count, retries=1, backoff=0)


def write(tmp_path, body: bytes):
    path = tmp_path / "snli_1.0_train.ko.tsv"
    path.write_bytes(body)
    return path


def test_a_line_with_two_fields_names_file_and_line(tmp_path):
    path = write(tmp_path, tsv(PAIRS[:2]) + "한 칸이 빠진 줄\tneutral\n".encode() + tsv(PAIRS[:1], header=""))
    with pytest.raises(NlpbookError) as caught:
        read_kornli(path)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert f"{path}, line 4: expected 3 tab-separated fields (sentence1, sentence2, gold_label), found 2" in caught.value.en
    assert f"{path}의 4번째 줄" in caught.value.ko and "2개입니다" in caught.value.ko


def test_unknown_label_is_refused_by_line(tmp_path):
    path = write(tmp_path, tsv(PAIRS[:3] + [("전제 문장이다.", "가설 문장이다.", "-")]))
    with pytest.raises(NlpbookError, match=f"{path}, line 5: unknown gold_label '-'"):
        read_kornli(path)


def test_na_hypotheses_are_left_out_and_counted_and_quotes_are_text(tmp_path, capsys):
    no_picture = [("그림을 설명할 수 없다.", "N/A", label) for label in ("entailment", "neutral", "contradiction")]
    path = write(tmp_path, tsv(PAIRS + no_picture + [('"따옴표로 시작하는 전제', '가설에도 "따옴표"가 있다', "neutral")]))
    examples = read_kornli(path)
    assert len(examples) == len(PAIRS) + 1
    assert "N/A" not in {e.hypothesis for e in examples}
    assert examples[3].premise == '그녀는 "내일 다시 올게요."라고 말했다.'
    assert (examples[-1].premise, examples[-1].hypothesis) == ('"따옴표로 시작하는 전제', '가설에도 "따옴표"가 있다')
    assert "문장이 없는 쌍('N/A' 또는 빈 칸) 3개를 뺐습니다" in capsys.readouterr().out
    # The check after a download counts the lines, left-out pairs included.
    assert kornli.count(path) == len(PAIRS) + 4


def test_missing_file_says_how_to_download(tmp_path):
    with pytest.raises(NlpbookError, match=f"download --corpus kornli --data-dir {tmp_path}"):
        load_kornli(tmp_path, kornli.TEST)


def test_bundled_sample_as_kornli_reads_back(tmp_path):
    written = kornli.write_kornli_sample(tmp_path)
    for name, file in written.items():
        assert kornli.count(tmp_path / "kornli" / file.filename) == file.records
        assert git_blob_id(tmp_path / "kornli" / file.filename) != FILES[name].blob  # ours, not KorNLI's
    train, dev = ensure(tmp_path)  # all four present: no download is tried
    assert len(train) == written["multinli_train"].records + written["snli_train"].records == 360
    assert len(dev) + len(load_kornli(tmp_path, kornli.TEST)) == 108


# --- settings, command line and DDP ---------------------------------------------------------

def test_settings_pick_korporas_root_and_a_separate_run_folder(tmp_path):
    from nlpbook_helpers.settings import Settings

    kornli_settings = Settings(work_dir=str(tmp_path), corpus="kornli")
    assert kornli_settings.data_dir == str(tmp_path / "korpora")  # the files live in korpora/kornli/
    assert kornli_settings.output_dir == str(tmp_path / "runs" / "paircls-kornli")
    klue = Settings(work_dir=str(tmp_path))
    assert (klue.corpus, klue.data_dir, klue.num_nodes) == ("klue-nli", str(tmp_path / "klue-nli"), 1)
    with pytest.raises(NlpbookError, match="num_nodes=0 must be greater than 0"):
        Settings(num_nodes=0)
    with pytest.raises(NlpbookError, match="corpus='kor-nli' is not supported; use one of: klue-nli, kornli"):
        Settings(corpus="kor-nli")


def test_trainer_gets_num_nodes_and_refuses_ddp_in_a_notebook(tmp_path, tiny_bert, monkeypatch):
    from nlpbook_helpers.features import load_tokenizer
    from nlpbook_helpers.runtime import detect_runtime
    from nlpbook_helpers.settings import Settings
    from nlpbook_helpers.trainer import build_trainer

    from nlpbook_helpers.sample import SAMPLE_DATA_DIR

    settings = Settings(work_dir=str(tmp_path), model_name=str(tiny_bert), data_dir=str(SAMPLE_DATA_DIR),
                        accelerator="cpu", num_nodes=2)
    trainer = build_trainer(settings, detect_runtime("cpu"), "32-true", load_tokenizer(str(tiny_bert)))
    assert trainer.num_nodes == 2 and type(trainer.strategy).__name__ == "DDPStrategy"
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)  # what a Python prompt or a Jupyter kernel sets
    with pytest.raises(NlpbookError, match="cannot run inside a notebook; run `python -m nlpbook_helpers train"):
        build_trainer(settings, detect_runtime("cpu"), "32-true", load_tokenizer(str(tiny_bert)))


def test_download_train_evaluate_kornli_from_a_local_mirror(http_server, tmp_path, monkeypatch, capsys, tiny_bert):
    """The three subcommands as a learner runs them, in-process; the mirror serves the sample in KorNLI's format."""
    from nlpbook_helpers.cli import main

    written = kornli.write_kornli_sample(tmp_path / "mirror")
    bodies = {name: (tmp_path / "mirror" / "kornli" / file.filename).read_bytes() for name, file in written.items()}
    http_server.routes = {f"/KorNLI/{written[name].filename}": [(200, body)] for name, body in bodies.items()}
    data = tmp_path / "korpora"
    assert main(["download", "--corpus", "kornli", "--data-dir", str(data), "--base-url", f"{http_server.url}/KorNLI"]) == 2
    assert "expected 392702 records, got 180" in capsys.readouterr().err  # the real facts refuse the sample
    # from here on the sample's facts (with their ids) are the expected ones
    monkeypatch.setitem(corpora.CORPORA, "kornli", described(
        {name: CorpusFile(file.filename, file.records, blob(bodies[name])) for name, file in written.items()}))
    assert main(["download", "--corpus", "kornli", "--data-dir", str(data), "--base-url", f"{http_server.url}/KorNLI"]) == 0
    assert sorted(p.name for p in (data / "kornli").iterdir()) == sorted(s.filename for s in written.values())

    work = tmp_path / "work"
    assert main(["train", "--sample", "--corpus", "kornli", "--data-dir", str(data), "--work-dir", str(work),
                 "--accelerator", "cpu"]) == 0
    output = work / "runs" / "sample-kornli"
    metrics = json.loads((output / "metrics.json").read_text())
    best = max(row["val_acc"] for row in metrics["epochs"])
    assert best >= 0.8, metrics  # the tiny model learns the KorNLI-format sample as it learns KLUE's
    assert (output / "best" / "model.safetensors").exists()

    report_file = tmp_path / "xnli-test.json"
    assert main(["evaluate", "--corpus", "kornli", "--model-dir", str(output / "best"), "--data-dir", str(data),
                 "--output", str(report_file)]) == 0
    report = json.loads(report_file.read_text())
    assert sum(map(sum, report["confusion_matrix"])) == written["xnli_test"].records == 54
    assert set(report) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix", "labels"}
    assert f"accuracy {report['accuracy']:.4f}" in capsys.readouterr().out


def test_evaluate_kornli_without_the_files_says_how_to_get_them(tmp_path, capsys, tiny_bert):
    from nlpbook_helpers.cli import main

    assert main(["evaluate", "--corpus", "kornli", "--model-dir", str(tiny_bert), "--data-dir", str(tmp_path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "xnli.test.ko.tsv does not exist: download it first" in last and " / " in last


def test_two_process_ddp_on_kornli_format_data(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--corpus", "kornli", "--work-dir", str(tmp_path),
         "--accelerator", "cpu", "--devices", "2", "--epochs", "1", "--max-steps", "4"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert "All distributed processes registered. Starting with 2 processes" in result.stderr + result.stdout
    output = tmp_path / "runs" / "sample-kornli"
    metrics = json.loads((output / "metrics.json").read_text())
    # 360 pairs from the two train files split over 2 processes, batches of 16: 12 steps per epoch, stopped at 4.
    assert metrics["epochs"][-1]["step"] == 4
    assert (output / "best" / "model.safetensors").exists() and (output / "checkpoints" / "last.ckpt").exists()
    assert len(list((tmp_path / "cache").glob("multinli.train.ko-*.safetensors"))) == 1


def test_a_byte_order_mark_before_the_header_is_accepted(tmp_path):
    path = write(tmp_path, "\ufeff".encode() + tsv(PAIRS))
    assert [e.hypothesis for e in read_kornli(path)] == [h for _, h, _ in PAIRS]
