"""Shared fixtures: a tiny model built from the bundled sample, and a local HTTP server.

Nothing here touches the network: the "hub model" is a folder we build and
save ourselves, and downloads come from 127.0.0.1.
"""

import os

# On 2 cores, torch's thread pool fights with everything else running and
# training slows down many times over; one thread per process is fastest here.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import http.server
import threading
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Build each tiny architecture once per test session: {"bert": dir, "roberta": dir, "electra": dir}."""
    from nlpbook_helpers.sample import build_tiny_model

    root = tmp_path_factory.mktemp("models")
    return {arch: build_tiny_model(root / f"tiny-{arch}", arch=arch) for arch in ("bert", "roberta", "electra")}


@pytest.fixture(scope="session")
def tiny_bert(tiny_models):
    return tiny_models["bert"]


class Routes(http.server.BaseHTTPRequestHandler):
    """Serves `server.routes[path]`: a list of (status, body) answers, used in order, the last one repeating.

    A status that is a function answers by itself: `status(handler)` (a server that misbehaves).
    """

    def do_GET(self):
        answers = self.server.routes.get(self.path, [(404, b"not found")])
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        self.server.hits.append(self.path)
        if callable(status):
            return status(self)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A server on 127.0.0.1 for the download tests; set `.routes` and read `.hits`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Routes)
    server.routes, server.hits = {}, []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def one_line(capsys) -> str:
    """What a failed command printed on stderr: exactly one `error: Korean / English` line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and " / " in lines[0], err[-3000:]
    return lines[0]


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody here can write into: chmod for a user; root ignores modes, so a sysfs path then."""
    if os.geteuid() == 0:
        yield Path("/sys/nlpbook-read-only")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.fixture(scope="session")
def trained_sample(tmp_path_factory):
    """best/ (with its model card) from one epoch on the bundled sample: a model folder as training leaves it."""
    from nlpbook_helpers.pipeline import train
    from nlpbook_helpers.sample import sample_settings

    settings = sample_settings(tmp_path_factory.mktemp("trained"), epochs=1)
    train(settings)
    return Path(settings.output_dir) / "best"
