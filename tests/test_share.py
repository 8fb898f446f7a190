"""`push`: the model and its card to the Hub, and a demo Space, against a local stand-in for the Hub's HTTP API.

The stand-in answers, on 127.0.0.1, exactly the endpoints huggingface_hub's
`whoami`, `create_repo` and `upload_folder` call (HF_ENDPOINT points the real
client at it):

    GET  /api/whoami-v2                              who the token belongs to, and its role
    POST /api/validate-yaml                          the README's metadata, checked before any upload
    POST /api/repos/create                           a model or Space repository
    POST /api/{models,spaces}/ID/preupload/main      which files go as git blobs, which through LFS
    POST /ID.git/info/lfs/objects/batch              where to send the LFS files (basic transfer)
    PUT  /lfs/OID                                    the LFS file's bytes
    POST /api/{models,spaces}/ID/commit/main         the commit (NDJSON: small files inline, LFS files by hash)

That is the boundary between our code and the network: everything above it
(our error handling, huggingface_hub's request building, hashing and
batching) runs for real. Like the Hub, the stand-in sends *.safetensors
through LFS. The Hub's newer Xet transfer talks to a separate storage
service whose protocol lives in a compiled library; the tests turn it off
(HF_HUB_DISABLE_XET=1) and use LFS, which the Hub still accepts.
"""

import base64
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOKENS = {"write-token": "write", "read-token": "read", "fine-token": "fineGrained"}


class HubStandIn(http.server.BaseHTTPRequestHandler):
    """Hugging Face's Hub as far as push uses it: whoami, create a repo, preupload, LFS, commit."""

    def answer(self, status, body=None):
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def role(self):
        return TOKENS.get(self.headers.get("Authorization", "").removeprefix("Bearer "))

    def do_GET(self):
        hub = self.server.hub
        hub["calls"].append(("GET", self.path))
        if self.path == "/api/whoami-v2":
            if not self.role():
                return self.answer(401, {"error": "Invalid user token."})
            return self.answer(200, {"type": "user", "name": "learner", "orgs": [{"name": "study-group"}],
                                     "auth": {"type": "access_token", "accessToken": {"role": self.role()}}})
        self.answer(404, {"error": "not found"})

    def do_PUT(self):
        hub = self.server.hub
        hub["calls"].append(("PUT", self.path))
        oid = self.path.rsplit("/", 1)[-1]
        data = self.body()
        hub["lfs"][oid] = data if hashlib.sha256(data).hexdigest() == oid else b"<hash mismatch>"
        self.answer(200)

    def do_POST(self):
        hub, url = self.server.hub, self.server.url
        hub["calls"].append(("POST", self.path))
        body = self.body()
        if self.role() not in ("write",):  # a fine-grained token without write permission is refused here
            return self.answer(403, {"error": "You don't have the rights to write."})
        if self.path == "/api/validate-yaml":  # the card's metadata, checked before the upload starts
            request = json.loads(body)
            header = re.match(r"---\n(.*?)\n---\n", request["content"], re.DOTALL)
            metadata = yaml.safe_load(header.group(1)) if header else None
            if not isinstance(metadata, dict) or (request["repoType"] == "space" and "sdk" not in metadata):
                return self.answer(400, {"errors": [{"message": "invalid or missing YAML metadata"}]})
            hub["cards"].append(metadata)
            return self.answer(200, {"warnings": []})
        if self.path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request.get('organization') or 'learner'}/{request['name']}"
            kind = request.get("type", "model")
            private = request.get("visibility", "private" if request.get("private") else "public") == "private"  # 2.x, 1.x
            hub["repos"][repo_id] = {"type": kind, "private": private, "sdk": request.get("sdk"), "files": {}}
            prefix = "spaces/" if kind == "space" else ""
            return self.answer(200, {"url": f"{url}/{prefix}{repo_id}", "name": repo_id})
        if match := re.fullmatch(r"/api/(models|spaces)/(.+)/preupload/main", self.path):
            files = json.loads(body)["files"]
            return self.answer(200, {"files": [{"path": f["path"], "shouldIgnore": False,
                                                "uploadMode": "lfs" if f["path"].endswith(".safetensors") else "regular"}
                                               for f in files]})
        if re.fullmatch(r"/(spaces/)?(.+)\.git/info/lfs/objects/batch", self.path):
            objects = json.loads(body)["objects"]
            return self.answer(200, {"transfer": "basic", "objects": [
                {"oid": o["oid"], "size": o["size"], "actions": {"upload": {"href": f"{url}/lfs/{o['oid']}"}}}
                for o in objects]})
        if match := re.fullmatch(r"/api/(models|spaces)/(.+)/commit/main", self.path):
            files = hub["repos"][match.group(2)]["files"]
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "lfsFile":
                    files[item["value"]["path"]] = hub["lfs"][item["value"]["oid"]]
            return self.answer(200, {"commitUrl": f"{url}/{match.group(2)}/commit/1", "commitOid": "1" * 40})
        self.answer(404, {"error": "not found"})


@pytest.fixture
def hub(local_server):
    server = local_server(HubStandIn)
    server.hub = {"repos": {}, "lfs": {}, "calls": [], "cards": [], "url": server.url}
    return server.hub


def push(model_dir, repo_id, endpoint, tmp_path, token="write-token", *flags):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_XET="1",
               PYTHONPATH=str(ROOT))
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "nlpbook_helpers", "push", "--model-dir", str(model_dir),
                           "--repo-id", repo_id, *flags], capture_output=True, text=True, timeout=300, env=env)


def test_push_uploads_best_with_its_card_and_a_space(trained_sample, hub, tmp_path):
    result = push(trained_sample, "kcbert-nli", hub["url"], tmp_path, "write-token", "--space", "--private")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [f"{hub['url']}/learner/kcbert-nli", f"{hub['url']}/spaces/learner/kcbert-nli-demo"]
    model = hub["repos"]["learner/kcbert-nli"]
    assert model["private"] is True
    assert model["files"] == {path.name: path.read_bytes() for path in trained_sample.iterdir()}  # weights through LFS too
    assert "README.md" in model["files"] and ("POST", "/learner/kcbert-nli.git/info/lfs/objects/batch") in hub["calls"]
    space = hub["repos"]["learner/kcbert-nli-demo"]
    assert space["type"] == "space" and space["sdk"] == "gradio"
    assert set(space["files"]) == {"app.py", "requirements.txt", "README.md"}
    assert b'MODEL_ID = "learner/kcbert-nli"' in space["files"]["app.py"]
    assert b"sdk: gradio" in space["files"]["README.md"]
    card, space_card = hub["cards"][0], hub["cards"][-1]
    assert card["pipeline_tag"] == "text-classification" and space_card["models"] == ["learner/kcbert-nli"]


def test_an_organization_of_the_user_is_accepted(trained_sample, hub, tmp_path):
    result = push(trained_sample, "study-group/nli", hub["url"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(hub["repos"]) == {"study-group/nli"}


@pytest.mark.parametrize("repo_id, token, words", [
    ("kcbert-nli", None, "Hugging Face 토큰이 없습니다"),
    ("kcbert-nli", "not-a-token", "토큰이 올바르지 않거나 만료"),
    ("kcbert-nli", "read-token", "읽기(read) 전용"),
    ("klue/kcbert-nli", "write-token", "'klue'는 다른 사람의 이름공간"),
    ("kcbert-nli", "fine-token", "쓸 권한이 없습니다"),
])
def test_each_failure_is_one_line_and_nothing_is_uploaded(trained_sample, hub, tmp_path, repo_id, token, words):
    result = push(trained_sample, repo_id, hub["url"], tmp_path, token)
    assert result.returncode == 2 and words in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert hub["repos"] == {}


def test_no_network_is_one_line(trained_sample, tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = push(trained_sample, "kcbert-nli", closed, tmp_path)
    assert result.returncode == 2 and "허브에 연결할 수 없습니다" in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("repo_id", ["", "me/", "me/my model", "a/b/c", "../x", "x" * 97])
def test_an_invalid_name_is_one_line_before_any_token_or_request(trained_sample, repo_id, capsys, monkeypatch):
    """Before: HFValidationError with a note to downgrade huggingface_hub, or "someone else's namespace"."""
    from nlpbook_helpers.cli import main

    from expect import one_line

    monkeypatch.delenv("HF_TOKEN", raising=False)  # no token either: the name is what is reported
    assert main(["push", "--model-dir", str(trained_sample), "--repo-id", repo_id]) == 2
    line = one_line(capsys)
    assert f"'{repo_id}' is not a valid Hub repository name" in line and "허브 저장소 이름으로 쓸 수 없습니다" in line
    assert "namespace" not in line.split("(")[0] and "pip install" not in line


@pytest.mark.parametrize("status, words", [
    (401, "token is invalid or expired"),
    (403, "No permission to write to 'learner/x'"),
    (500, "answered the request for the model 'learner/x' with an error (HTTP 500)"),  # support/hub.py's wording
])
def test_a_hub_error_is_worded_for_the_upload_or_as_hub_py_words_it(status, words):
    from types import SimpleNamespace

    from huggingface_hub.errors import HfHubHTTPError

    from nlpbook_helpers.sharing.share import explain_push_error
    from nlpbook_helpers.support.hub import explain_hub_error

    # the response as far as the error reads it (httpx's or httpx2's, as the hub version has it)
    error = HfHubHTTPError("refused", response=SimpleNamespace(status_code=status, headers={}, request=None))
    assert words in explain_push_error(error, "learner/x").en
    if status == 500:
        assert explain_push_error(error, "learner/x").en == explain_hub_error(error, "learner/x").en
    assert explain_push_error(ValueError("a bug"), "learner/x") is None  # not the hub's: raised as it is
