"""The web page's server (nlpbook_helpers.sharing.serve): its JSON API, bad input, restarts, the command line and a burst."""

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

from nlpbook_helpers.sharing import serve
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.inference import MAX_CHARS, Predictor
from nlpbook_helpers.sharing.serve import start, stop

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
    ({"premise": "가" * 10_000, "hypothesis": "비가 온다."}, None, "전제가 너무 깁니다(10,000자)"),
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
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # Ctrl+C as in a terminal
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


def raw(server, request: bytes, send_more: bytes = b"", timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send `request` on a socket of our own, read the whole answer: (status, its JSON body ({} for none, or for
    the page), headers)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(1 << 16):
            answer += chunk
            if send_more:  # the client keeps sending its body after the answer began: it is not read
                try:
                    connection.sendall(send_more)
                except OSError:
                    send_more = b""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body) if body and b"application/json" in head else {}, head


def test_colabs_query_strings_are_ignored(server):
    assert raw(server, b"GET /?authuser=0 HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200
    body = json.dumps({"premise": "비가 온다.", "hypothesis": "날씨가 궂다."}).encode()
    request = b"POST /api/predict?authuser=0 HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    status, answer, _ = raw(server, request)
    assert status == 200 and answer["label"] in ("entailment", "contradiction", "neutral")


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3", b"", b"99999999999999999999"])
def test_a_content_length_that_is_not_a_size_is_a_400_at_once(server, length):
    """Before: -1 read the body until the client closed (a 300 MB body grew the server by 300 MB), abc was a 500."""
    start = time.monotonic()
    status, answer, _ = raw(server, b"POST /api/predict HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n",
                            send_more=b"x" * (1 << 20))
    assert time.monotonic() - start < 5
    assert status == 400 and answer["error_en"].startswith(("The request's Content-Length is not 0 to", "Send JSON"))


@pytest.mark.parametrize("method", [b"HEAD", b"PUT", b"OPTIONS", b"DELETE", b"PATCH", b"BREW"])
def test_other_methods_are_a_405_in_json(server, method):
    status, answer, head = raw(server, method + b" /api/predict HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert status == 405 and b"Allow: GET, POST" in head and b"application/json" in head
    assert answer == {} if method == b"HEAD" else "GET과 POST만" in answer["error"]


def test_what_http_server_refuses_itself_is_json_too(server):
    for request in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n"):
        status, answer, head = raw(server, request)
        assert status in (400, 414, 505) and b"application/json" in head and answer["error_en"], (request[:20], head)


def test_silent_connections_are_capped_and_timed_out(predictor, monkeypatch):
    """Before: 1,500 connections that sent nothing held 1,500 threads for as long as they liked."""
    import threading

    monkeypatch.setattr(serve, "MAX_CONNECTIONS", 4)
    monkeypatch.setattr(serve, "SLOT_WAIT_S", 0.2)
    monkeypatch.setattr(serve.Handler, "timeout", 3)
    threads_before = threading.active_count()
    server = start(predictor, port=0)
    try:
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(6)]
        time.sleep(0.3)
        assert threading.active_count() <= threads_before + 1 + 4  # serve_forever and 4 connections
        status, answer, _ = raw(server, b"GET / HTTP/1.1\r\n\r\n")  # after the two silent ones beyond the cap
        assert status == 503 and answer["error_en"] == "The server is busy; try again in a moment."
        time.sleep(3)  # past the timeout: the silent ones are closed, and their threads end
        assert raw(server, b"GET / HTTP/1.1\r\n\r\n")[0] == 200
        assert threading.active_count() <= threads_before + 2
        for connection in silent:
            connection.close()
    finally:
        stop(server.port)


def test_a_client_that_trickles_is_cut_at_the_deadline(predictor, monkeypatch):
    monkeypatch.setattr(serve.Handler, "timeout", 1)
    monkeypatch.setattr(serve, "CONNECTION_DEADLINE_S", 1.5)
    server = start(predictor, port=0)
    try:
        start_time = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\n")
            with pytest.raises(OSError):
                while time.monotonic() - start_time < 8:  # a header line every 0.5 s: never silent for 1 s
                    connection.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.5)
                    if connection.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                        raise ConnectionResetError("closed by the server")
        assert time.monotonic() - start_time < 4
    finally:
        stop(server.port)


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_a_port_out_of_range_is_one_line(tiny_bert, capsys, port):
    from nlpbook_helpers.cli import main

    from expect import one_line

    assert main(["serve", "--model-dir", str(tiny_bert), "--port", port]) == 2
    assert f"Port {port} is not valid: give a number from 0 to 65535" in one_line(capsys)


def test_in_colab_the_page_is_shown_in_a_frame_and_its_address_printed(monkeypatch, capsys):
    """Colab's proxy can leave the frame blank: the proxy's address for the port is printed beside it."""
    import types

    from nlpbook_helpers.sharing.serve import show_in_colab

    shown = []
    google, colab, output = (types.ModuleType(name) for name in ("google", "google.colab", "google.colab.output"))
    google.colab, colab.output = colab, output
    output.serve_kernel_port_as_iframe = lambda port, height: shown.append((port, height))
    output.eval_js = lambda script: {"google.colab.kernel.proxyPort(8123)": "https://8123-abc.colab.dev/"}[script]
    for name, module in (("google", google), ("google.colab", colab), ("google.colab.output", output)):
        monkeypatch.setitem(sys.modules, name, module)
    show_in_colab(8123)
    assert shown == [(8123, "520")]
    assert capsys.readouterr().out.strip() == "위 칸이 비어 있으면 이 주소를 새 탭에서 여세요: https://8123-abc.colab.dev/"
