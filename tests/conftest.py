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


@pytest.fixture
def local_server():
    """The one stand-in for every server a test needs (a corpus mirror, the hub, a proxy), on 127.0.0.1 only.

    `local_server(Handler, **attributes)` starts a threading HTTP server with
    that request handler, sets the attributes on it (handlers read them as
    `self.server.NAME`) and returns it with its `.url`; each is shut down when
    the test ends. Handlers log nothing.
    """
    servers = []

    def start(handler, **attributes):
        handler.log_message = lambda self, *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.url = f"http://127.0.0.1:{server.server_address[1]}"
        for name, value in attributes.items():
            setattr(server, name, value)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server(local_server):
    """A corpus mirror for the download tests; set `.routes` and read `.hits`."""
    return local_server(Routes, routes={}, hits=[])


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
