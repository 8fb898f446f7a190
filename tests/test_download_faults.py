"""Faults during a download, each against a server on 127.0.0.1 that misbehaves one way, each bounded in time.

Every one must end in one NlpbookError (one line, exit 2 on the command line) with nothing left behind,
and only what may pass is tried again.
"""

import hashlib
import json
import subprocess
import sys
import time

import pytest

from nlpbook_helpers.cli import main
from nlpbook_helpers.corpus import KLUE_NLI, CorpusFile
from nlpbook_helpers.support.download import fetch
from nlpbook_helpers.support.errors import NlpbookError

from expect import one_line

RECORD = {"guid": "g", "genre": "x", "premise": "비가 온다.", "hypothesis": "날씨가 궂다.", "gold_label": "entailment"}
BODY = json.dumps([RECORD] * 400, ensure_ascii=False).encode()  # ~40 kB: several chunks
FILE = CorpusFile("klue-nli-v1.1_dev.json", 400, hashlib.sha1(b"blob %d\0" % len(BODY) + BODY).hexdigest())


def get(url, dest, **options):
    fetch(url, dest, FILE, KLUE_NLI.records, **{"retries": 3, "backoff": 0, **options})


def cut_mid_chunk(handler):
    """A chunked response that stops inside a chunk: http.client's IncompleteRead."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"%x\r\n" % len(BODY) + BODY[: len(BODY) // 2])
    handler.wfile.flush()
    handler.close_connection = True


def bad_length(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "abc")
    handler.end_headers()
    handler.wfile.write(BODY)
    handler.close_connection = True


def trickle(handler):
    """One byte a second, for ever (the issue's server sent one every 20 s)."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(BODY)))
    handler.end_headers()
    try:
        for byte in BODY:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(1)
    except OSError:  # the client gave up
        pass


def test_a_response_cut_mid_chunk_is_retried_and_leaves_no_part(http_server, tmp_path):
    http_server.routes["/f.json"] = [(cut_mid_chunk, None), (200, BODY)]
    dest = tmp_path / FILE.filename
    get(f"{http_server.url}/f.json", dest)
    assert dest.read_bytes() == BODY and len(http_server.hits) == 2
    http_server.routes["/g.json"] = [(cut_mid_chunk, None)]
    with pytest.raises(NlpbookError, match="IncompleteRead"):
        get(f"{http_server.url}/g.json", tmp_path / "g.json")
    assert not list(tmp_path.rglob("*.part"))


def test_a_content_length_that_is_not_a_number_is_ignored(http_server, tmp_path):
    http_server.routes["/f.json"] = [(bad_length, None)]
    dest = tmp_path / FILE.filename
    get(f"{http_server.url}/f.json", dest)
    assert dest.read_bytes() == BODY


def test_a_server_that_trickles_is_given_up_on(http_server, tmp_path):
    http_server.routes["/f.json"] = [(trickle, None)]
    start = time.monotonic()
    with pytest.raises(NlpbookError, match="the server is too slow"):
        get(f"{http_server.url}/f.json", tmp_path / FILE.filename, deadline_s=3)
    assert time.monotonic() - start < 10 and len(http_server.hits) == 1  # not retried
    assert list(tmp_path.iterdir()) == []


def test_a_data_dir_that_is_a_file_or_read_only_is_one_line(http_server, tmp_path, read_only_dir, capsys):
    http_server.routes = {}  # nothing should be asked for
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    for data_dir, words in ((a_file, "a file of that name is in the way"), (read_only_dir / "klue", "Cannot write")):
        assert main(["download", "--data-dir", str(data_dir), "--base-url", http_server.url]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert words in err and "Cannot write to the corpus folder" in err
    assert http_server.hits == []


def test_a_full_disk_is_not_retried_nor_blamed_on_the_network(http_server, tmp_path):
    """A real write failure: the file-size limit (RLIMIT_FSIZE) stands in for a disk that fills up."""
    http_server.routes["/f.json"] = [(200, BODY)]
    script = f"""
import resource, signal
from pathlib import Path
from nlpbook_helpers.corpus import KLUE_NLI, CorpusFile
from nlpbook_helpers.support.download import fetch
from nlpbook_helpers.support.errors import NlpbookError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    fetch("{http_server.url}/f.json", Path(r"{tmp_path}") / "{FILE.filename}", CorpusFile("{FILE.filename}", 400, None),
          KLUE_NLI.records, retries=4, backoff=5)
except NlpbookError as error:
    print(error)
"""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "Cannot write to the corpus folder" in result.stdout and "free some space" in result.stdout
    assert "network" not in result.stdout.lower()
    assert len(http_server.hits) == 1 and time.monotonic() - start < 60  # no retries, no 5+10+20 s of backoff
    assert list(tmp_path.iterdir()) == []


def test_every_real_file_is_verified_by_its_id():
    from nlpbook_helpers.corpora import CORPORA

    for corpus in CORPORA.values():
        assert all(len(file.blob or "") == 40 for file in corpus.files()), corpus.name


@pytest.mark.parametrize("base_url", ["not a url", "ftp://example.com/klue", "http://", "https://[::1/x",
                                      "http://127.0.0.1:99999/x", "http://example.com/a b"])
def test_a_base_url_that_is_no_address_is_one_line(tmp_path, capsys, base_url):
    assert main(["download", "--data-dir", str(tmp_path / "klue"), "--base-url", base_url]) == 2
    line = one_line(capsys)
    assert f"--base-url {base_url!r} is not a valid address" in line
    assert not (tmp_path / "klue").exists()


def test_a_download_that_fails_verification_gives_no_advice_about_its_removed_part(http_server, tmp_path):
    http_server.routes["/f.json"] = [(200, b"<html>rate limited</html>")]
    with pytest.raises(NlpbookError) as refused:
        get(f"{http_server.url}/f.json", tmp_path / FILE.filename)
    assert "is not readable KLUE-NLI JSON" in refused.value.en and "delete it" not in refused.value.en
    assert "download from the original location" in refused.value.en
    assert list(tmp_path.iterdir()) == []


def test_the_error_after_a_failed_transfer_starts_a_line_of_its_own(http_server, tmp_path, capsys):
    from nlpbook_helpers.cli import print_error

    http_server.routes["/f.json"] = [(cut_mid_chunk, None)]
    with pytest.raises(NlpbookError) as refused:
        get(f"{http_server.url}/f.json", tmp_path / FILE.filename, retries=1)
    print_error(refused.value)
    err = capsys.readouterr().err
    before, _, _ = err.partition("error: ")
    assert f"{FILE.filename}: " in before and before.endswith("\n"), repr(err[-500:])  # a bar was shown, its line ended
