"""The trained model as a web page and a JSON API (notebook 08, section 6; `python -m nlpbook_helpers serve`).

The book used Flask and flask-ngrok, a tunnel that now needs an account: this is its page and API on `http.server`,
errors in JSON. Connections are capped and timed out: silent clients cannot hold the threads.
"""

import json
import socket
import sys
import threading
import time
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from ..support.errors import NlpbookError
from ..inference import MAX_CHARS, Predictor
from ..support.korean import josa

DEFAULT_PORT = 8000
MAX_BODY = 64 * 1024  # two texts of MAX_CHARS characters fit many times over
MAX_CONNECTIONS = 64  # served at once; a burst of 200 requests waits its turn (benchmarks/serve_load.py)
SLOT_WAIT_S = 5  # how long a connection beyond the cap waits for a free thread before its 503
CONNECTION_DEADLINE_S = 60  # one connection, start to end, however slowly it trickles
PAGE = (Path(__file__).parent.parent / "data" / "page.html").read_bytes()  # the form and its script
_running: dict = {}  # port -> the server this process started there, so a rerun can stop it first

BUSY = NlpbookError("서버가 바쁩니다. 잠시 뒤 다시 시도하세요.", "The server is busy; try again in a moment.")
NOT_FOUND = NlpbookError("없는 주소입니다.", "Not found.")
NOT_ALLOWED = NlpbookError("허용되지 않는 요청 방식입니다(GET과 POST만 받습니다).", "Method not allowed: only GET and POST.")
LATE = NlpbookError("요청 본문이 끝까지 오지 않았습니다.", "The request body did not arrive in time.")
FAILED = NlpbookError("서버에서 예측하지 못했습니다. 서버 로그를 확인하세요.", "The server failed to predict; see its log.")


def as_json(error: NlpbookError) -> bytes:
    return json.dumps({"error": error.ko, "error_en": error.en}, ensure_ascii=False).encode("utf-8")


class PageServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never keeps the process alive
    request_queue_size = 256  # connections waiting to be accepted; the default 5 drops a burst of users

    def __init__(self, predictor: Predictor, port: int, host: str = "127.0.0.1"):
        self.predictor = predictor
        self.lock = threading.Lock()  # one prediction at a time: a fast tokenizer must not be shared across threads
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.opened: dict = {}  # connection -> when it was accepted
        super().__init__((host, port), Handler)
        self.port = self.server_address[1]
        self.url = f"http://{self.server_address[0]}:{self.port}"

    def process_request(self, request, client_address):  # in the accepting thread
        if not self.slots.acquire(timeout=SLOT_WAIT_S):
            with suppress(OSError):
                request.settimeout(1)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8"
                                b"\r\nConnection: close\r\n\r\n" + as_json(BUSY))
            return self.shutdown_request(request)
        self.opened[request] = time.monotonic()
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # a connection's end: its slot is free again, unless it got the 503
        super().shutdown_request(request)
        if self.opened.pop(request, None) is not None:
            self.slots.release()

    def service_actions(self, everyone=False):  # run by serve_forever between accepts: cut what is past its deadline
        for request, since in list(self.opened.items()):
            if everyone or time.monotonic() - since > CONNECTION_DEADLINE_S:
                with suppress(OSError):  # closed meanwhile
                    request.shutdown(socket.SHUT_RDWR)

    def server_close(self):  # a thread still inside torch at exit aborts Python: cut every connection
        self.service_actions(everyone=True)
        super().server_close()  # and wait for their threads (ThreadingMixIn's block_on_close)

    def handle_error(self, request, client_address):  # a client that went away or quiet: no traceback for it
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def predict_json(predictor: Predictor, lock: threading.Lock, payload) -> dict:  # bad input: NlpbookError
    if not isinstance(payload, dict):
        raise NlpbookError('{"premise": ..., "hypothesis": ...} 형식의 JSON을 보내 주세요.',
                           'Send JSON of the form {"premise": ..., "hypothesis": ...}.')
    pair = (payload.get("premise", ""), payload.get("hypothesis", ""))
    for name, name_ko, text in zip(("premise", "hypothesis"), ("전제", "가설"), pair):
        if isinstance(text, str) and len(text) > MAX_CHARS:  # check_pair would cut it; a page should say so
            raise NlpbookError(f"{josa(name_ko, '이/가')} 너무 깁니다({len(text):,}자). {MAX_CHARS:,}자 이하로 줄여 주세요.",
                               f"The {name} is too long ({len(text):,} characters); keep it under {MAX_CHARS:,}.")
    with lock:
        return dict(vars(predictor.predict(*pair)))  # {"label", "label_ko", "probabilities"}


class Handler(BaseHTTPRequestHandler):
    timeout = 10  # seconds of silence from a client, per read and write: StreamRequestHandler sets it on the socket
    default_request_version = "HTTP/1.0"  # so that a garbled request line is answered with a status line too
    body_unread = False  # an error went out before the request's body was read

    def do_GET(self):
        if urlsplit(self.path).path not in ("/", "/index.html"):  # the path without Colab's ?authuser=0
            return self.send(HTTPStatus.NOT_FOUND, NOT_FOUND)
        self.send(HTTPStatus.OK, PAGE, "text/html; charset=utf-8")

    def do_POST(self):
        if urlsplit(self.path).path != "/api/predict":
            return self.send(HTTPStatus.NOT_FOUND, NOT_FOUND)
        try:
            answer = predict_json(self.server.predictor, self.server.lock, self.read_json())
        except NlpbookError as error:  # bad input, or a length refused before its body was read
            return self.send(HTTPStatus.BAD_REQUEST, error)
        except TimeoutError:  # the client stopped sending before its Content-Length was reached
            return self.send(HTTPStatus.REQUEST_TIMEOUT, LATE)
        except Exception as error:  # a bug of ours: say so in the page, keep the details in the server's log
            print(f"serve: {type(error).__name__}: {error}", file=sys.stderr)
            return self.send(HTTPStatus.INTERNAL_SERVER_ERROR, FAILED)
        self.send(HTTPStatus.OK, json.dumps(answer, ensure_ascii=False).encode("utf-8"))

    def read_json(self):  # None when the body is not JSON; a length that is not 0 to MAX_BODY is refused unread
        length = (self.headers.get("Content-Length") or "0").strip()
        if not (length.isascii() and length.isdigit() and int(length) <= MAX_BODY):  # "-1" would read until EOF
            raise NlpbookError(f"요청의 Content-Length가 0~{MAX_BODY:,}바이트가 아닙니다({length[:40]!r}).",
                               f"The request's Content-Length is not 0 to {MAX_BODY:,} bytes ({length[:40]!r}).")
        with suppress(ValueError, RecursionError):
            return json.loads(self.rfile.read(int(length)) or b"null")

    def parse_request(self):  # an empty request line gets a 400 too; http.server would close without a word
        self.raw_requestline = self.raw_requestline if self.raw_requestline.strip() else b"(empty)"
        return super().parse_request()

    def send_error(self, code, message=None, explain=None):  # what http.server refuses by itself, in JSON
        if code == HTTPStatus.NOT_IMPLEMENTED:  # HEAD, PUT, DELETE, ...: no do_ method
            return self.send(HTTPStatus.METHOD_NOT_ALLOWED, NOT_ALLOWED, headers={"Allow": "GET, POST"})
        phrase = message or HTTPStatus(code).phrase
        self.send(code, NlpbookError(f"요청을 처리할 수 없습니다({code} {phrase}).", f"{code} {phrase}."))

    def send(self, status, body: "bytes | NlpbookError", content_type="application/json; charset=utf-8", headers=None):
        if isinstance(body, NlpbookError):  # an error: the connection closes, the request's body maybe unread
            self.body_unread = self.close_connection = True
            body = as_json(body)
        self.send_response(status)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(body)

    def finish(self):  # closing with unread bytes resets the connection: drop them for a second first
        super().finish()
        if self.body_unread:
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(0.2)
                deadline = time.monotonic() + 1
                while time.monotonic() < deadline and self.connection.recv(1 << 16):
                    pass

    def log_message(self, *args):  # one line per request would bury a notebook's output
        pass


def start(model: "str | Path | Predictor", port: int | None = None, host: str = "127.0.0.1") -> PageServer:
    """Serve `model` (best/ or a Predictor) in a thread, replacing ours on that port; no port: 8000 or the next free."""
    if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
        raise NlpbookError(f"포트 {port}: 0~65535 사이의 수를 주세요(0은 빈 포트).",
                           f"Port {port} is not valid: give a number from 0 to 65535 (0: any free port).")
    predictor = model if isinstance(model, Predictor) else Predictor(model)
    for candidate in [port] if port is not None else range(DEFAULT_PORT, DEFAULT_PORT + 100):
        stop(candidate)
        try:
            server = PageServer(predictor, candidate, host)
            break
        except OSError as error:
            reason = error.strerror
    else:
        where = port if port is not None else f"{DEFAULT_PORT}~{DEFAULT_PORT + 99}"
        raise NlpbookError(f"포트 {josa(where, '을/를')} 쓸 수 없습니다({reason}). 다른 프로그램이 쓰고 있다면 다른 포트를 주세요.",
                           f"Cannot use port {where} ({reason}); if another program holds it, choose another port.")
    threading.Thread(target=server.serve_forever, name=f"serve-{server.port}", daemon=True).start()
    _running[server.port] = server
    return server


def stop(port: int) -> None:
    """Stop the server this process runs on `port`, if any: free the port, wait for its threads."""
    if (server := _running.pop(port, None)) is not None:
        server.shutdown()  # returns once serve_forever has
        server.server_close()


def show_in_colab(port: int, height: int = 520) -> None:
    """The page in a frame via Colab's proxy, and its address, as the frame can stay blank (colabtools#4037, #4781)."""
    from google.colab import output
    output.serve_kernel_port_as_iframe(port, height=str(height))
    address = output.eval_js(f"google.colab.kernel.proxyPort({int(port)})")
    print(f"위 칸이 비어 있으면 이 주소를 새 탭에서 여세요: {address}")


def serve_forever(model_dir: str, port: int | None = None) -> None:
    """What `python -m nlpbook_helpers serve` runs: serve until Ctrl+C, then free the port."""
    server = start(model_dir, port)
    print(f"serving {model_dir} at {server.url}  (Ctrl+C stops it)")
    with suppress(KeyboardInterrupt):
        threading.Event().wait()
    stop(server.port)

