"""--devices N goes through Lightning's DDP strategy; here with 2 CPU processes talking over gloo."""

import json
import subprocess
import sys


def test_two_process_ddp_trains_and_writes_once(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--work-dir", str(tmp_path),
         "--accelerator", "cpu", "--devices", "2", "--epochs", "1", "--max-steps", "6"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert "All distributed processes registered. Starting with 2 processes" in result.stderr + result.stdout
    output = tmp_path / "runs" / "sample"
    metrics = json.loads((output / "metrics.json").read_text())
    # 360 pairs split over 2 processes, batches of 16: 12 steps per epoch, stopped at 6.
    assert metrics["epochs"][-1]["step"] == 6
    assert (output / "best" / "model.safetensors").exists() and (output / "checkpoints" / "last.ckpt").exists()
