"""Command-line inputs that used to end in a traceback, a hang or silence: now one line and exit code 2.

Most cases run `main()` in-process, the function `python -m nlpbook_helpers` runs; those about what the
process prints, argv bytes or hanging run it as a process, with a timeout.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nlpbook_helpers.cli import CLUSTER_VARIABLES, main
from nlpbook_helpers.sample import SAMPLE_DATA_DIR

from expect import one_line


def cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "nlpbook_helpers", *args], capture_output=True, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_a_work_dir_that_is_a_file_or_read_only(tmp_path, read_only_dir, capsys):
    a_file = tmp_path / "work.txt"
    a_file.write_text("not a folder")
    for work_dir in (a_file, read_only_dir / "work"):
        assert main(["train", "--sample", "--work-dir", str(work_dir)]) == 2
        assert f"Cannot write to the work dir {work_dir}" in one_line(capsys)


def test_two_machines_without_a_cluster_are_refused_at_once(tmp_path):
    env = {name: "" for name in CLUSTER_VARIABLES}
    start = time.monotonic()
    result = cli("train", "--sample", "--work-dir", str(tmp_path), "--num-nodes", "2", "--accelerator", "cpu",
                 env=env, timeout=240)  # before: waited for ever at "MEMBER: 1/2"
    stderr = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in stderr, stderr[-3000:]
    assert "num_nodes=2, but no cluster" in stderr and time.monotonic() - start < 240


@pytest.fixture
def model_copy(tiny_bert, tmp_path):
    return Path(shutil.copytree(tiny_bert, tmp_path / "model"))


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "nlpbook.json").write_text('{"max_seq_length": 6'), "is damaged (JSONDecodeError)"),
    (lambda d: (d / "config.json").write_text('{"model_type": "bert", "hidden'), "is damaged"),
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:5000]), "is damaged"),
])
def test_predict_with_a_damaged_model_folder(model_copy, capsys, damage, words):
    damage(model_copy)
    assert main(["predict", "--model-dir", str(model_copy), "비가 온다.", "날씨가 궂다."]) == 2
    line = one_line(capsys)
    assert words in line and str(model_copy) in line


def test_a_folder_holding_only_a_pickled_pytorch_model_bin_is_refused_before_it_is_read(model_copy, tmp_path, capsys):
    """A pickle may run code when it is loaded: the course reads safetensors only, and says so in one line."""
    import pickle

    marker = tmp_path / "ran"

    class Payload:  # what a crafted checkpoint would do on unpickling
        def __reduce__(self):
            return (Path.touch, (marker,))

    (model_copy / "model.safetensors").unlink()
    (model_copy / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    assert main(["predict", "--model-dir", str(model_copy), "비가 온다.", "날씨가 궂다."]) == 2
    line = one_line(capsys)
    assert "safetensors only" in line and "pytorch_model.bin" in line
    assert not marker.exists()


def test_predict_input_files_that_are_not_pairs(tiny_bert, tmp_path, capsys):
    cp949 = tmp_path / "pairs.jsonl"
    cp949.write_bytes(json.dumps({"premise": "비가 온다.", "hypothesis": "날씨가 궂다."}, ensure_ascii=False).encode("cp949"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    for path, words in ((cp949, "is not UTF-8 (saved as cp949?)"), (empty, "holds no pairs")):
        assert main(["predict", "--model-dir", str(tiny_bert), "--input", str(path)]) == 2
        assert words in one_line(capsys)


def test_predict_with_argv_bytes_that_are_not_utf8(tiny_bert):
    result = cli("predict", "--model-dir", str(tiny_bert), b"\xba\xf1\xb0\xa1 \xbf\xc2\xb4\xd9", "날씨가 궂다.")
    stderr = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in stderr, stderr[-3000:]
    assert "the premise holds bytes that are not UTF-8" in stderr


def test_evaluate_checks_its_output_before_computing(tiny_bert, tmp_path, read_only_dir, capsys):
    for output, words in ((tmp_path, "is a folder"), (read_only_dir / "e.json", "Cannot write to --output's folder")):
        assert main(["evaluate", "--model-dir", str(tiny_bert), "--data-dir", str(SAMPLE_DATA_DIR),
                     "--output", str(output)]) == 2
        assert words in one_line(capsys)
        assert "accuracy" not in capsys.readouterr().out
    in_a_new_folder = tmp_path / "new" / "e.json"
    assert main(["evaluate", "--model-dir", str(tiny_bert), "--data-dir", str(SAMPLE_DATA_DIR),
                 "--output", str(in_a_new_folder)]) == 0
    assert json.loads(in_a_new_folder.read_text())["labels"] == ["entailment", "contradiction", "neutral"]


def test_predict_and_evaluate_print_no_progress_bar_of_transformers(tiny_bert):
    for args in (["predict", "--model-dir", str(tiny_bert), "비가 온다.", "날씨가 궂다."],
                 ["evaluate", "--model-dir", str(tiny_bert), "--data-dir", str(SAMPLE_DATA_DIR)]):
        result = cli(*args)
        stderr = result.stderr.decode()
        assert result.returncode == 0, stderr[-3000:]
        assert "Loading weights" not in stderr and "it/s]" not in stderr, stderr[-3000:]


def test_download_and_evaluate_default_to_trains_folder(tmp_path, http_server, capsys, monkeypatch):
    """Without --data-dir, download writes where train reads: the corpus's folder in NLPBOOK_WORK_DIR."""
    work = tmp_path / "work"
    monkeypatch.setenv("NLPBOOK_WORK_DIR", str(work))
    assert main(["download", "--base-url", http_server.url]) == 2  # the mirror has nothing: 404
    assert f"put klue-nli-v1.1_train.json into {work / 'klue-nli'} by hand" in one_line(capsys)
    assert main(["evaluate", "--model-dir", str(tmp_path)]) == 2
    assert f"{work / 'klue-nli' / 'klue-nli-v1.1_dev.json'} does not exist" in one_line(capsys)


def test_predict_input_saved_with_a_byte_order_mark(tiny_bert, tmp_path, capsys):
    """Windows Notepad starts a UTF-8 file with a BOM; before, line 1 was "not a pair"."""
    pairs = tmp_path / "notepad.jsonl"
    pairs.write_text('{"premise": "비가 온다.", "hypothesis": "날씨가 궂다."}\r\n', encoding="utf-8-sig")
    assert main(["predict", "--model-dir", str(tiny_bert), "--json", "--input", str(pairs)]) == 0
    assert json.loads(capsys.readouterr().out)["premise"] == "비가 온다."


def test_predict_input_streams_its_results_under_a_progress_bar(tmp_path, monkeypatch):
    """Many pairs: the whole file is checked first, then each chunk is printed before the next is labelled."""
    import io

    from nlpbook_helpers import cli, inference

    printed_before_each_chunk = []

    class CountingPredictor:
        def __init__(self, model_dir):
            pass

        def predict_batch(self, pairs):
            printed_before_each_chunk.append(out.getvalue().count("\n"))
            return [inference.Prediction("neutral", "중립", {"entailment": 0.2, "contradiction": 0.2, "neutral": 0.6})
                    for _ in pairs]

    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(inference, "Predictor", CountingPredictor)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    pairs = tmp_path / "many.jsonl"
    n = 2 * cli.PREDICT_CHUNK + 500
    pairs.write_text("".join(json.dumps({"premise": f"문장 {i}", "hypothesis": "가설"}, ensure_ascii=False) + "\n"
                             for i in range(n)), encoding="utf-8")
    assert main(["predict", "--model-dir", str(tmp_path), "--input", str(pairs)]) == 0
    assert printed_before_each_chunk == [0, cli.PREDICT_CHUNK, 2 * cli.PREDICT_CHUNK]
    assert out.getvalue().count("\n") == n
    assert f"/{n}" in err.getvalue() and "pair" in err.getvalue()  # tqdm's "k/N [..., pair/s]" on stderr


def test_a_bad_line_far_down_the_input_stops_predict_before_any_result(tiny_bert, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    good = json.dumps({"premise": "비가 온다.", "hypothesis": "날씨가 궂다."}, ensure_ascii=False)
    pairs.write_text("\n".join([good] * 3000 + [json.dumps({"premise": "비가 온다.", "hypothesis": "  "})]))
    assert main(["predict", "--model-dir", str(tiny_bert), "--input", str(pairs)]) == 2
    assert "Pair 3001: the hypothesis is empty" in one_line(capsys)
    assert capsys.readouterr().out == ""


def test_an_output_dir_that_cannot_be_written_is_named_so(tmp_path, read_only_dir, capsys):
    output = read_only_dir / "run"
    assert main(["train", "--sample", "--work-dir", str(tmp_path), "--output-dir", str(output)]) == 2
    line = one_line(capsys)
    assert f"Cannot write to the output dir {output}" in line and f"출력 폴더 {output}에 쓸 수 없습니다" in line


@pytest.mark.parametrize("args", [["serve", "--model-dir", "m", "--port", "abc"], ["train", "--epochs", "two"],
                                  ["predict"], ["nonsense"], ["train", "--schedule", "cosine"]])
def test_a_mistyped_argument_is_one_line_and_exit_2(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    line = one_line(capsys)
    assert "Invalid arguments: " in line and "--help" in line and "명령줄 인자가 잘못되었습니다" in line


def test_drive_permission_refused_in_colab_is_one_line(tiny_bert, tmp_path, monkeypatch, capsys):
    """Colab's drive.mount raises MessageError when the learner refuses access (or closes the dialog)."""
    import types

    from nlpbook_helpers import runtime

    class MessageError(Exception):
        pass

    def refuse(mountpoint):
        raise MessageError("Error: credential propagation was unsuccessful")

    google, colab, drive = (types.ModuleType(name) for name in ("google", "google.colab", "google.colab.drive"))
    google.colab, colab.drive, drive.mount = colab, drive, refuse
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    monkeypatch.setattr(runtime, "in_colab", lambda: True)
    monkeypatch.setattr(runtime, "COLAB_DRIVE", tmp_path / "drive")
    monkeypatch.delenv("NLPBOOK_WORK_DIR", raising=False)
    for args in (["train", "--sample"], ["evaluate", "--model-dir", str(tiny_bert)]):
        assert main(args) == 2
        line = one_line(capsys)
        assert "Could not mount Google Drive (MessageError: Error: credential propagation was unsuccessful)" in line
        assert "NLPBOOK_WORK_DIR" in line and "Drive 접근을 허용하세요" in line


def test_the_error_line_after_a_progress_bar_starts_a_line_of_its_own(tmp_path):
    """--lr 1e300 stops on a NaN loss while Lightning's bar (on stdout) is mid-line."""
    result = subprocess.run([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--epochs", "1",
                             "--lr", "1e300", "--work-dir", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    output = result.stdout.decode()
    assert result.returncode == 2 and "Traceback" not in output, output[-3000:]
    before, _, error = output.partition("error: ")
    assert before.endswith("\n") and "The loss became nan" in error, output[-1000:]


def test_predict_into_a_reader_that_leaves_ends_quietly(tiny_bert, tmp_path):
    """`predict --input big.jsonl | head`: the results stream, and when head has had enough there is no traceback."""
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text((json.dumps({"premise": "비가 온다.", "hypothesis": "날씨가 궂다."}, ensure_ascii=False) + "\n") * 3000)
    process = subprocess.Popen([sys.executable, "-m", "nlpbook_helpers", "predict", "--model-dir", str(tiny_bert),
                                "--input", str(pairs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    first = process.stdout.readline()
    process.stdout.close()  # the reader leaves after one line
    err = process.stderr.read().decode()
    assert process.wait(timeout=300) == 0 and b"(" in first
    assert "Traceback" not in err and "BrokenPipeError" not in err, err[-2000:]
