"""How long the light commands take to answer, this checkout against an earlier commit (by default b74f32e,
the last one whose `--help` imported torch, Lightning and transformers).

    python benchmarks/command_start.py                     # 7 rounds, each command, before and after
    python benchmarks/command_start.py --rounds 3 --before HEAD~1

Each command runs as a learner runs it, `python -m nlpbook_helpers ...` in a
fresh process, and is timed from start to exit (the usage is printed last).
The earlier commit is exported to a temporary folder with `git archive`; both
sides run on this Python. The two sides alternate within each round, in an
order that flips round by round, so both sample the same spells of a shared
machine's drifting speed. Printed: the median and the range (min-max) of
each side, and the median of the per-round ratios.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["push", "--help"], ["download", "--help"], ["predict", "--help"])


def export(commit: str, folder: Path) -> Path:
    """The package as it was at `commit`, in `folder`."""
    archive = folder / "before.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), commit, "nlpbook_helpers"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "before", filter="data")
    return folder / "before"


def seconds(checkout: Path, argv: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nlpbook_helpers", *argv], cwd=checkout, capture_output=True,
                            env={**os.environ, "PYTHONPATH": str(checkout)}, timeout=300)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or b"usage:" not in result.stdout:
        sys.exit(f"{' '.join(argv)} failed in {checkout}:\n{result.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--before", default="b74f32e")
    options.add_argument("--rounds", type=int, default=7)
    args = options.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sides = {"before": export(args.before, Path(folder)), "after": ROOT}
        times = {(side, tuple(argv)): [] for side in sides for argv in COMMANDS}
        for round_number in range(args.rounds):
            order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
            for argv in COMMANDS:
                for side in order:
                    times[side, tuple(argv)].append(seconds(sides[side], argv))
    print(f"python -m nlpbook_helpers ..., seconds to exit, {args.rounds} rounds (median, min-max); "
          f"before = {args.before}, Python {sys.version.split()[0]}")
    for argv in COMMANDS:
        before, after = times["before", tuple(argv)], times["after", tuple(argv)]
        ratio = statistics.median(b / a for b, a in zip(before, after))
        print(f"  {' '.join(argv):<16} before {statistics.median(before):5.2f} ({min(before):.2f}-{max(before):.2f})"
              f"   after {statistics.median(after):5.2f} ({min(after):.2f}-{max(after):.2f})   {ratio:4.1f}x faster")


if __name__ == "__main__":
    main()
