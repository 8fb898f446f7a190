"""Random inputs with a fixed seed: the page's server, and the command line's numbers and paths.

The server gets a few hundred requests with random methods, paths, headers, lengths (honest, lying, absurd)
and bodies: each must end in an answer in JSON (the page itself for a GET of /, headers only for HEAD), and
the server must go on answering. The command line gets random numbers for every numeric flag and random
folder names: each ends in a result (exit 0) or exactly one `error:` line (exit 2), never a traceback.
Everything stays on 127.0.0.1 and under tmp_path, and each test is bounded in count and time.
"""

import json
import random
import socket
import threading
import time

import pytest

from nlpbook_helpers.sharing import serve
from nlpbook_helpers.cli import main
from nlpbook_helpers.inference import MAX_CHARS, Predictor

from expect import one_line

SEED = 30
REQUESTS = 300
METHODS = ["POST"] * 24 + ["GET"] * 4 + ["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "BREW", "get"]
PATHS = ["/api/predict"] * 8 + ["/api/predict?authuser=0"] * 4 + [
    "/", "/index.html", "/?authuser=0", "/api/predict/", "//", "/api/%70redict", "/../etc/passwd", "/%00",
    "/api/predict#x", "*", "/" + "가" * 50]


def text(rng: random.Random) -> str:
    return rng.choice(["", " ", "비가 온다.", "날씨가 궂다.", "\ud7a3" * 3, "<script>alert(1)</script>", "\n\t",
                       "가" * rng.choice([1, MAX_CHARS, MAX_CHARS + 1]), "😀" * 5, "\x00"])


def body(rng: random.Random) -> bytes:
    kind = rng.randrange(12)
    if kind >= 8:  # a pair the model can label
        return json.dumps({"premise": rng.choice(["비가 온다.", "오늘은 맑다."]), "hypothesis": text(rng)}).encode()
    if kind == 0:
        return b""
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 2:
        return b"[" * rng.randrange(1, 5000) + b"]" * rng.randrange(5000)
    value = rng.choice([None, 3, [], "x", {"premise": 1}, {"premise": text(rng)},
                        {"premise": text(rng), "hypothesis": text(rng)},
                        {"premise": text(rng), "hypothesis": text(rng), "extra": list(range(10))},
                        {"premise": [text(rng)], "hypothesis": {"a": 1}}])
    return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def request(rng: random.Random) -> tuple[str, bytes]:
    method, path, data = rng.choice(METHODS), rng.choice(PATHS), body(rng)
    headers = ["Host: 127.0.0.1"]
    length = rng.choice(["honest"] * 12 + ["none", "longer", "-1", "abc", " 5", "1e3", "99999999999999999999", "0x10",
                                          str(serve.MAX_BODY + 1)])
    if length == "honest":
        headers.append(f"Content-Length: {len(data)}")
    elif length == "longer":  # the client says more than it sends: the server waits, then answers 408
        headers.append(f"Content-Length: {len(data) + 10}")
    elif length != "none":
        headers.append(f"Content-Length: {length}")
    for _ in range(rng.randrange(4)):
        headers.append(rng.choice(["Content-Type: application/json", "Content-Type: text/plain", "X-A: " + "b" * 5000,
                                   "Transfer-Encoding: chunked", "Expect: 100-continue", "Connection: keep-alive",
                                   "Accept-Encoding: gzip", "Cookie: a=b"]))
    line = f"{method} {path} HTTP/1.{rng.randrange(2)}"
    if rng.random() < 0.03:
        line = rng.choice(["", "GET", "GET / HTTP/2.0", "GET / FOO/1.1", "\x01\x02", "GET /  HTTP/1.1 extra"])
    return method, (line + "\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + data


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(1 << 16):
            answer += chunk
    return answer


@pytest.fixture(scope="module")
def predictor(tiny_bert):
    return Predictor(tiny_bert, device="cpu")


def test_the_server_answers_every_random_request_in_json_and_keeps_answering(predictor, monkeypatch):
    monkeypatch.setattr(serve.Handler, "timeout", 0.5)  # a lying Content-Length waits this long, not 10 s
    rng = random.Random(SEED)
    threads_before = threading.active_count()
    server = serve.start(predictor, port=0)
    started = time.monotonic()
    statuses = {}
    try:
        for number in range(REQUESTS):
            method, raw = request(rng)
            answer = exchange(server.port, raw)
            head, _, payload = answer.partition(b"\r\n\r\n")
            status_line = head.split(b"\r\n")[0].decode("latin-1")
            where = f"request {number}: {raw[:120]!r} -> {answer[:300]!r}"
            assert status_line.startswith("HTTP/1.0 "), where
            status = int(status_line.split()[1])
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200 and b"text/html" in head:
                assert method == "GET" and b"</html>" in payload, where
            elif method == "HEAD" and status == 405:
                assert payload == b"" and b"application/json" in head, where
            else:
                assert b"application/json" in head, where
                answer_json = json.loads(payload)
                if status == 200:
                    assert "label" in answer_json, where
                else:
                    assert answer_json["error"] and answer_json["error_en"], where
                assert status != 500, where  # a 500 calls itself our bug
        assert time.monotonic() - started < 60
        check = json.dumps({"premise": "비가 온다.", "hypothesis": "날씨가 궂다."}).encode()
        last = exchange(server.port,
                        b"POST /api/predict HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(check), check))
        assert b" 200 " in last.split(b"\r\n")[0] and b'"label"' in last
    finally:
        serve.stop(server.port)
    print(statuses)
    assert {200, 400, 404, 405, 408} <= set(statuses)  # the seed reaches every kind of answer
    time.sleep(0.5)
    assert threading.active_count() <= threads_before + 1  # every connection's thread has ended


NUMBERS = ["0", "-1", "1", "2", "7", "-0", "+3", "1_000", "10000000000000000000000", "-99999999999999999999",
           "4294967296", "2147483648", "1e300", "-1e-300", "1e-320", "nan", "-inf", "inf", "0.5", "3.0", "0x10",
           "", " ", "abc", "１２", "٣", "1,5", "True", "None", "e", "--", "5e-5"]
NUMERIC_FLAGS = ["--lr", "--epochs", "--batch-size", "--max-seq-length", "--seed", "--max-steps", "--devices",
                 "--num-nodes", "--checkpoint-every"]


def fake_train(settings):
    """Training stands in: the fuzz is about what reaches it (a valid number may mean hours of training)."""
    return {"epochs": [{"epoch": 1, "step": 1, "val_loss": 1.0, "val_acc": 0.5, "macro_f1": 0.5}], "best_epoch": 1}


def ends_well(capsys, run) -> str:
    """Run one command: exit 0, or exit 2 with exactly one error line. Returns "ok" or the error line."""
    try:
        code = run()
    except SystemExit as stopped:  # argparse refuses before main's own handler
        code = stopped.code
    if code == 0:
        assert "Traceback" not in capsys.readouterr().err
        return "ok"
    assert code == 2
    return one_line(capsys)


def test_random_numbers_for_every_numeric_flag_end_in_a_result_or_one_line(tmp_path, capsys, monkeypatch):
    from nlpbook_helpers import pipeline

    monkeypatch.setattr(pipeline, "train", fake_train)
    monkeypatch.setenv("MASTER_ADDR", "")  # so num_nodes > 1 is refused as on a single machine
    rng = random.Random(SEED)
    outcomes = {"ok": 0, "error": 0}
    started = time.monotonic()
    for _ in range(80):
        args = ["train", "--sample", "--work-dir", str(tmp_path)]
        for flag in rng.sample(NUMERIC_FLAGS, rng.randrange(1, 4)):
            args += [flag, rng.choice(NUMBERS)]
        result = ends_well(capsys, lambda: main(args))
        outcomes["ok" if result == "ok" else "error"] += 1
    print(outcomes)
    assert outcomes["ok"] and outcomes["error"], outcomes  # the seed reaches both ends
    assert time.monotonic() - started < 60


@pytest.fixture
def odd_places(tmp_path, read_only_dir):
    """Folder names a learner might type, all under tmp_path: spaces, Korean, a newline, too long, a file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return [tmp_path / "with space", tmp_path / "한국어 폴더", tmp_path / "new\nline", tmp_path / ("x" * 300),
            tmp_path / "deep" / ("y" * 200) / ("z" * 200), blocker, blocker / "below", read_only_dir / "w",
            tmp_path / "-dash", tmp_path / "tab\there", tmp_path / "dot.", tmp_path / "%s{}$HOME"]


def test_random_paths_for_every_path_flag_end_in_a_result_or_one_line(tmp_path, tiny_bert, odd_places, capsys,
                                                                       monkeypatch):
    from nlpbook_helpers import pipeline

    monkeypatch.setattr(pipeline, "train", fake_train)
    monkeypatch.setattr(serve, "serve_forever", lambda model_dir, port: serve.stop(serve.start(model_dir, port).port))
    rng = random.Random(SEED)
    commands = [
        lambda place: ["train", "--sample", "--work-dir", str(place)],
        lambda place: ["train", "--sample", "--work-dir", str(tmp_path / "work"), "--output-dir", str(place)],
        lambda place: ["evaluate", "--model-dir", str(tiny_bert), "--data-dir", str(place)],
        lambda place: ["evaluate", "--model-dir", str(place), "--data-dir", str(tmp_path)],
        lambda place: ["predict", "--model-dir", str(tiny_bert), "--input", str(place)],
        lambda place: ["predict", "--model-dir", str(place), "a", "b"],
        lambda place: ["download", "--data-dir", str(place), "--base-url", "not a url"],
        lambda place: ["serve", "--model-dir", str(place), "--port", str(rng.choice([0, -5, 70000]))],
        lambda place: ["push", "--model-dir", str(place), "--repo-id", "a/b/c"],
    ]
    started = time.monotonic()
    for _ in range(40):
        args = rng.choice(commands)(rng.choice(odd_places))
        ends_well(capsys, lambda: main(args))
    assert time.monotonic() - started < 60
