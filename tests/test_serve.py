"""The web page's server (nlpbook_helpers.serve): its JSON API, bad input, restarts, the command line and a burst."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nlpbook_helpers import serve
from nlpbook_helpers.errors import NlpbookError
from nlpbook_helpers.inference import MAX_CHARS, Predictor
from nlpbook_helpers.serve import start, stop

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def predictor(tiny_bert):
    return Predictor(tiny_bert, device="cpu")


@pytest.fixture
def server(predictor):
    server = start(predictor, port=0)
    yield server
    stop(server.port)


def post(url, payload, raw: bytes | None = None) -> tuple[int, dict]:
    body = raw if raw is not None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url + "/api/predict", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_api_answers_what_the_predictor_says(server, predictor):
    status, answer = post(server.url, {"premise": "오늘은 날씨가 맑다.", "hypothesis": "비가 온다."})
    expected = predictor.predict("오늘은 날씨가 맑다.", "비가 온다.")
    assert status == 200
    assert answer == {"label": expected.label, "label_ko": expected.label_ko, "probabilities": expected.probabilities}


def test_the_page_is_served_in_korean(server):
    with urllib.request.urlopen(server.url + "/", timeout=30) as response:
        page = response.read().decode("utf-8")
    assert response.headers["Content-Type"].startswith("text/html") and "판단하기" in page and "api/predict" in page


@pytest.mark.parametrize("payload, raw, words", [
    ({"premise": "오늘은 날씨가 맑다.", "hypothesis": "  "}, None, "가설: 비어 있습니다"),
    ({"premise": "가" * 10_000, "hypothesis": "비가 온다."}, None, "전제이(가) 너무 깁니다(10,000자)"),
    (None, b"{not json", "형식의 JSON"),
    ({"premise": 3, "hypothesis": "비가 온다."}, None, "문자열이 아닙니다"),
])
def test_bad_input_gets_the_packages_message_not_a_traceback(server, payload, raw, words):
    status, answer = post(server.url, payload, raw)
    assert status == 400
    assert words in answer["error"] and answer["error_en"]
    assert "Traceback" not in json.dumps(answer)


def test_starting_again_on_the_same_port_replaces_the_server(predictor):
    port = free_port()
    first = start(predictor, port=port)
    second = start(predictor, port=port)  # a rerun of the notebook cell
    try:
        assert second is not first and post(second.url, {"premise": "가", "hypothesis": "나"})[0] == 200
        with pytest.raises(OSError):  # the first one no longer listens
            first.socket.getsockname()
    finally:
        stop(port)


def test_without_a_port_a_default_port_another_program_holds_is_skipped_and_a_rerun_reuses_ours(predictor, monkeypatch):
    with socket.socket() as other:  # another program on the default port
        other.bind(("127.0.0.1", 0))
        other.listen()
        default = other.getsockname()[1]
        # a port of the test's own, not 8000 itself: CI runs two profiles' tests at once on one machine
        monkeypatch.setattr(serve, "DEFAULT_PORT", default)
        first = start(predictor)
        try:
            again = start(predictor)  # the notebook cell, run a second time
            assert default < first.port < default + 100 and again.port == first.port
            assert post(again.url, {"premise": "가", "hypothesis": "나"})[0] == 200
        finally:
            stop(first.port)


def test_a_port_held_by_another_program_is_a_plain_error(predictor):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(NlpbookError, match="포트"):
            start(predictor, port=other.getsockname()[1])


def test_the_command_serves_until_interrupted_and_frees_the_port(tiny_bert):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "nlpbook_helpers", "serve", "--model-dir", str(tiny_bert),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                status, answer = post(url, {"premise": "오늘은 날씨가 맑다.", "hypothesis": "비가 온다."})
                break
            except urllib.error.URLError:
                assert process.poll() is None, process.communicate()
                time.sleep(0.1)
        assert status == 200 and answer["label"] in ("entailment", "contradiction", "neutral")
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"serving {tiny_bert} at {url}" in out and "Traceback" not in err
    with socket.socket() as again:  # the port is free at once for the next server (SO_REUSEADDR, as every server sets)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_a_missing_model_folder_is_a_plain_error_on_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nlpbook_helpers", "serve", "--model-dir", str(tmp_path / "nope")],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2 and "모델 폴더" in result.stderr and "없습니다" in result.stderr and "Traceback" not in result.stderr


def test_a_burst_of_200_requests_is_all_answered_and_correct(tiny_bert, tmp_path):
    figures_file = tmp_path / "load.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serve_load.py"), "--model-dir", str(tiny_bert),
                             "--requests", "200", "--json", str(figures_file)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    figures = json.loads(figures_file.read_text())
    assert figures["answered"] == figures["correct"] == figures["requests"] == 200, figures
    assert figures["errors"] == [] and figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]


def test_texts_up_to_the_limit_are_accepted(server):
    assert post(server.url, {"premise": "가" * MAX_CHARS, "hypothesis": "나"})[0] == 200
