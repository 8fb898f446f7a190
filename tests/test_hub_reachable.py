"""hub._reachable: asked through huggingface_hub's own client (so through a proxy too), and never stuck offline."""

import http.server
import os
import subprocess
import sys

import pytest

from nlpbook_helpers.support import hub

ASK = "from nlpbook_helpers.support.hub import _reachable; print(_reachable('http://hub.invalid'))"


def reachable_in_a_fresh_process(**env) -> str:
    """The hub client reads the proxy variables when it is made: a fresh process makes a fresh one."""
    base = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    result = subprocess.run([sys.executable, "-c", ASK], env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


class Proxy(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.server.asked.append(f"{self.command} {self.path}")  # a proxy is asked for the whole URL
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def proxy(local_server):
    return local_server(Proxy, asked=[])


def test_a_hub_behind_a_proxy_is_reachable_through_it(proxy):
    """hub.invalid resolves nowhere; only the proxy (a local server) can answer for it, as Colab's proxy would."""
    assert reachable_in_a_fresh_process() == "False"
    assert reachable_in_a_fresh_process(HTTP_PROXY=f"http://127.0.0.1:{proxy.server_address[1]}") == "True"
    assert proxy.asked == ["HEAD http://hub.invalid"] or proxy.asked == ["HEAD http://hub.invalid/"]


class Session:
    """A stand-in for the hub client: fails while `down`, answers after."""

    def __init__(self):
        self.down, self.asked = True, 0

    def head(self, url, timeout):
        self.asked += 1
        if self.down:
            raise ConnectionError("network blip")


def test_offline_is_not_remembered_and_online_is_remembered_briefly(monkeypatch):
    import huggingface_hub.utils

    session = Session()
    monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: session)
    monkeypatch.setattr(hub, "_answered_at", {})
    assert hub._reachable("https://hub.example") is False
    session.down = False
    assert hub._reachable("https://hub.example") is True  # the blip is over: asked again, not remembered
    session.down = True
    assert hub._reachable("https://hub.example") is True and session.asked == 2  # an answer is kept for a minute
    monkeypatch.setattr(hub.time, "monotonic", lambda: 10**9)
    assert hub._reachable("https://hub.example") is False  # ... and no longer
