"""The benchmark a lent GPU runs (benchmarks/gpu_session.sh) must not first break there: its CPU path runs here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_overhead_times_every_way_and_reports_the_target(tmp_path):
    figures_file = tmp_path / "overhead.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "overhead.py"), "--rounds", "1", "--cpu", "--work-dir", str(tmp_path / "work"),
         "--json", str(figures_file)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    assert set(figures["rounds"]) == {"bare", "lightning", "pipeline"}
    assert all(len(times) == 1 and times[0] > 0 for times in figures["rounds"].values())
    rounds = figures["rounds"]  # (rounded to 0.001 ms, as the figures are)
    assert figures["added_ms_per_step"] == pytest.approx(rounds["pipeline"][0] - rounds["bare"][0], abs=0.002)
    assert figures["timed_steps_per_round"] > 50 and figures["precision"] == "32-true"
    assert figures["target"].startswith("added <= 2.5 ms/step: ")
    assert "added" in result.stdout and "of which Lightning's own loop" in result.stdout
