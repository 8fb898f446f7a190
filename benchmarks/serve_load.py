"""How the web page's API (nlpbook_helpers.sharing.serve) holds up under a burst: N requests at once from 127.0.0.1.

Every request is sent at the same moment from its own thread, each with its
own pair; every answer is compared with what `Predictor.predict` says for that
pair. Prints how many were answered and correct, and the p50/p95/max latency.
Without --model-dir it serves the tiny sample model (built in a temp dir).

    python benchmarks/serve_load.py [--model-dir DIR] [--requests 200] [--json FILE]
"""

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from nlpbook_helpers.inference import Predictor
from nlpbook_helpers.sharing.serve import start, stop

TIMEOUT_S = 120  # per request; the whole burst is bounded by it too


def pairs(n: int) -> list:
    premise = "지난 주말 가족과 함께 제주도에 가서 한라산에 올랐다."
    return [(premise, f"{i}번째 가설: 가족과 함께 산에 {'올랐다' if i % 2 else '오르지 않았다'}.") for i in range(n)]


def ask(url: str, pair) -> tuple:
    """One request: (seconds, the JSON answer or the error's text)."""
    body = json.dumps({"premise": pair[0], "hypothesis": pair[1]}).encode("utf-8")
    request = urllib.request.Request(url + "/api/predict", body, {"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        answer = f"{type(error).__name__}: {error}"
    return time.perf_counter() - started, answer


def burst(url: str, batch: list) -> list:
    """Send every pair at once (threads released together) and return [(seconds, answer)] in order."""
    results = [None] * len(batch)
    gate = threading.Barrier(len(batch))

    def worker(i):
        gate.wait()
        results[i] = ask(url, batch[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(batch))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S + 10)
    return [result or (None, "no answer") for result in results]


def run(model_dir: str, requests: int) -> dict:
    predictor = Predictor(model_dir, device="cpu")
    batch = pairs(requests)
    expected = [predictor.predict(*pair) for pair in batch]
    server = start(predictor, port=0)
    try:
        started = time.perf_counter()
        results = burst(server.url, batch)
        wall = time.perf_counter() - started
    finally:
        stop(server.port)
    answered = [(s, a) for s, a in results if isinstance(a, dict)]
    correct = sum(isinstance(a, dict) and a["label"] == e.label and a["probabilities"] == e.probabilities
                  for (_, a), e in zip(results, expected))
    latencies = sorted(s for s, _ in answered)
    quantile = lambda q: round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)  # noqa: E731
    return {"requests": requests, "answered": len(answered), "correct": correct,
            "errors": sorted({a for _, a in results if not isinstance(a, dict)})[:5],
            "p50_ms": quantile(0.5) if latencies else None, "p95_ms": quantile(0.95) if latencies else None,
            "max_ms": quantile(1.0) if latencies else None, "wall_s": round(wall, 2),
            "mean_ms": round(1000 * statistics.mean(latencies), 1) if latencies else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", help="a best/ folder; default: the tiny sample model")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        if args.model_dir is None:
            from nlpbook_helpers.sample import build_tiny_model

            args.model_dir = str(build_tiny_model(Path(scratch) / "tiny-bert"))
        figures = run(args.model_dir, args.requests)
    print(f"{figures['answered']}/{figures['requests']} answered, {figures['correct']} correct, "
          f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, max {figures['max_ms']} ms, "
          f"all in {figures['wall_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if figures["correct"] == figures["requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
