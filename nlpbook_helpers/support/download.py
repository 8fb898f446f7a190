"""Fetch a corpus's files and verify them, the same way for every corpus (book: code 3-6).

The book saved whatever the server sent, an HTML error page too. Here each file is streamed to `<name>.part`,
verified by its git blob id or its structure, then moved into place; only a lost connection, a timeout, HTTP 5xx or
429 is retried, and nothing is left behind.
"""

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .drive_files import cannot_write, check_writable, open_new, remove_file, replace_file
from .errors import NlpbookError
from .log import get_logger
from .korean import josa

READ_TIMEOUT_S = 60  # one read
DEADLINE_S = 30 * 60  # one file, start to end: a server that trickles bytes is given up on
RETRIES, BACKOFF_S = 4, 2.0
CORPUS_FOLDER = ("말뭉치 폴더", "the corpus folder", "--data-dir")


class _Refused(Exception):
    """A fault that the same request would meet again: not retried."""


def download(corpus, data_dir, base_url: str | None = None, **fetch_options) -> dict[str, Path]:
    """{name: path} of `corpus`'s files under data_dir, fetched unless verified there (from base_url if given)."""
    if base_url is not None:
        check_base_url(base_url)
    folder = corpus.folder(data_dir)
    check_writable(folder, *CORPUS_FOLDER)
    paths = {}
    for file in corpus.files():
        dest = folder / file.filename
        if not (dest.exists() and problem(dest, file, corpus.records) is None):
            try:
                fetch(f"{(base_url or corpus.base_url).rstrip('/')}/{file.filename}", dest, file, corpus.records,
                      **fetch_options)
            except NlpbookError as error:
                if base_url or corpus.fallback is None:
                    raise
                get_logger().info(f"{file.filename}: 원래 위치에서 받지 못해({error.ko}) 다른 사본을 받아 봅니다")
                corpus.fallback(file, dest, error)
        paths[file.filename] = dest
    return paths


def check_base_url(url: str) -> None:
    """An http(s) address with a host, a valid port and no spaces; anything else would fail deep in urllib."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # read for its check: ValueError for a port that is no number or out of range
    except ValueError:  # that, or a broken [IPv6] host
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable() \
            or " " in url:
        raise NlpbookError(f"--base-url {url!r}: 올바른 주소가 아닙니다. 파일들이 있는 폴더의 http:// 또는 https:// "
                           "주소를 주세요(예: https://example.com/klue-nli).", f"--base-url {url!r} is not a valid "
                           "address: give the http(s):// address of the folder holding the files (such as "
                           "https://example.com/klue-nli).")


def fetch(url: str, dest: Path, file, count, retries: int = RETRIES, backoff: float = BACKOFF_S,
          deadline_s: float = DEADLINE_S) -> None:
    """Download url to dest through dest.part, retrying only transient faults, then verify it against `file`
    (`filename`, `records`, `blob`); `count(path)` returns a file's records or raises NlpbookError."""
    # Not drive_files.atomic_write: its open and fsync raise the disk's OSError, which the retries below would
    # take for the network's, and the verification must read the .part by name before the rename.
    part = dest.with_name(dest.name + ".part")
    try:
        for attempt in range(retries):
            time.sleep(backoff * 2 ** (attempt - 1) if attempt else 0)
            try:
                blob = _stream(url, part, time.monotonic() + deadline_s)
                break
            except urllib.error.HTTPError as error:
                reason = f"HTTP {error.code} {error.reason}"
                if error.code < 500 and error.code != 429:
                    raise _Refused(reason) from None  # a missing file stays missing
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                reason = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
        else:
            raise _Refused(reason if retries else "no attempt")
        _IDS[_key(part)] = blob  # hashed while streaming: not read again
        if wrong := problem(part, file, count):
            raise NlpbookError(f"{url}에서 받은 파일이 올바르지 않습니다({wrong}). 원본 위치에서 다시 받거나, 원본 "
                               f"{josa(file.filename, '을/를')} 직접 받아 {dest.parent}에 넣으세요.", "The file "
                               f"downloaded from {url} is not the right one ({wrong}): download from the original "
                               f"location, or put the original {file.filename} into {dest.parent} by hand.")
        replace_file(part, dest)
    except BaseException as error:  # a refusal, a bad file, a full disk, Ctrl-C: no half file stays behind
        remove_file(part)
        if isinstance(error, _Refused):
            raise NlpbookError(f"내려받지 못했습니다: {url} ({error}). 네트워크를 확인하거나, "
                               f"{josa(file.filename, '을/를')} 직접 받아 {dest.parent}에 넣으세요.", "Could not "
                               f"download {url} ({error}). Check the network, or put {file.filename} into "
                               f"{dest.parent} by hand.") from None
        raise
    _IDS[_key(dest)] = blob


def _stream(url: str, part: Path, deadline: float) -> str:
    """Write the response to `part` and return its git blob id, hashed while streaming."""
    request = urllib.request.Request(url, headers={"User-Agent": "nlpbook-helpers"})
    with urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length", "")
        size = int(length) if length.isdigit() else None  # "abc" or none: unknown, hashed from the file after
        digest = hashlib.sha1(f"blob {size}\0".encode()) if size is not None else None
        written = 0
        with _on_disk(part.parent, open_new, part) as out, \
                tqdm(total=size, unit="B", unit_scale=True, desc=part.stem, leave=False) as bar:
            try:
                while chunk := response.read1(1 << 16):
                    if time.monotonic() > deadline:
                        raise _Refused("not complete within the time allowed for one file: the server is too slow")
                    _on_disk(part.parent, out.write, chunk)
                    if digest:
                        digest.update(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
                _on_disk(part.parent, out.flush)  # so that closing has nothing left to write
            except BaseException:
                bar.leave = True  # how far it got stays on screen and ends its line: the error starts a new one
                raise
    if size is not None and written != size:
        raise http.client.IncompleteRead(b"", size - written)  # the connection closed early: retried
    return digest.hexdigest() if digest else git_blob_id(part)


def _on_disk(folder: Path, action, *args):
    """A file operation whose failure (a full disk, a read-only folder) is not the network's: not retried."""
    try:
        return action(*args)
    except OSError as error:
        raise cannot_write(folder, error, *CORPUS_FOLDER) from None


def problem(path: Path, file, count) -> str | None:
    """What is wrong with a downloaded file, or None when it is the published one (or, without an id, well-formed)."""
    if file.blob is not None and file_id(path) == file.blob:
        return None
    try:
        records = count(path)
    except NlpbookError as error:  # without its closing advice ("…: delete it and download it again."): it is removed
        return re.sub(r"[:;] [^:;]*$", "", error.en)
    if records != file.records:
        return f"expected {file.records} records, got {records}"
    if file.blob is not None:
        return (f"well-formed, but its bytes differ from the published file: git blob {file_id(path)}, expected "
                f"{file.blob} (a mirror serving other bytes?)")
    return None


_IDS: dict[tuple, str] = {}  # (path, size, mtime): blob id, so a run hashes each file once


def _key(path: Path) -> tuple:
    stat = os.stat(path)
    return str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns


def file_id(path: Path) -> str:
    """The file's git blob id (sha1(b"blob <size>\\0" + content)), computed once per process for an unchanged file."""
    try:
        key = _key(path)
        if key not in _IDS:
            _IDS[key] = git_blob_id(path)
    except OSError as error:  # a folder where the file should be, a file we may not read
        raise NlpbookError(f"{path}: 말뭉치 파일로 읽을 수 없습니다({error.strerror}). 원본 파일을 그 자리에 두세요.",
                           f"{path} cannot be read as a corpus file ({error.strerror}): put the original file "
                           "there.") from None
    return _IDS[key]


def git_blob_id(path: Path) -> str:
    digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as file:
        while chunk := file.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()
