import os
import subprocess
import sys

import pytest
import torch

from nlpbook_helpers.errors import NlpbookError
from nlpbook_helpers.runtime import Runtime, check_writable, choose_precision, detect_runtime, resolve_work_dir


@pytest.mark.parametrize("runtime, expected", [
    (Runtime("gpu", "Tesla T4", (7, 5), True), "16-mixed"),
    (Runtime("gpu", "Tesla V100", (7, 0), False), "16-mixed"),
    (Runtime("gpu", "NVIDIA L4", (8, 9), True), "bf16-mixed"),
    (Runtime("gpu", "NVIDIA A100", (8, 0), True), "bf16-mixed"),
    (Runtime("tpu", "TPU", None, True), "32-true"),  # bf16-true rounds LayerNorm updates away (scripts/check_xla.py)
    (Runtime("cpu", "CPU", None, False), "32-true"),
])
def test_auto_precision_per_runtime(runtime, expected):
    precision, why = choose_precision(runtime)
    assert precision == expected and why


def test_explicit_precision_wins():
    assert choose_precision(Runtime("cpu", "CPU", None, False), "bf16-mixed")[0] == "bf16-mixed"


def test_this_machine_is_a_cpu_runtime():
    assert detect_runtime().accelerator == "cpu"


def test_gpu_asked_on_cpu_runtime_is_a_clear_error():
    with pytest.raises(NlpbookError, match="A GPU was asked for but this runtime has none"):
        detect_runtime("gpu")


def test_tpu_asked_without_torch_xla_is_a_clear_error():
    with pytest.raises(NlpbookError, match="torch_xla or a TPU chip is missing"):
        detect_runtime("tpu")


def test_unwritable_work_dir_fails_early(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(NlpbookError, match="Cannot write to the work dir"):
        check_writable(blocker / "work")


def test_work_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPBOOK_WORK_DIR", str(tmp_path / "w"))
    assert resolve_work_dir() == tmp_path / "w"
    assert (tmp_path / "w").is_dir()


def test_not_enough_space_names_the_size_needed(tmp_path, monkeypatch):
    import shutil

    from nlpbook_helpers.trainer import ensure_free_space

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10 * 2**30, 10 * 2**30 - 2**29, 2**29))
    with pytest.raises(NlpbookError, match="a checkpoint needs 1.3 GB, only 0.5 GB is free"):
        ensure_free_space(tmp_path, int(1.3 * 2**30))
    ensure_free_space(tmp_path, 2**20)  # enough room: no error


def test_a_gpu_trainer_turns_cudnn_attention_off(tmp_path, monkeypatch):
    import pytorch_lightning as pl

    from nlpbook_helpers.settings import Settings
    from nlpbook_helpers.trainer import build_trainer

    monkeypatch.setattr(pl, "Trainer", lambda **kwargs: kwargs)  # no GPU here: look at what would be asked
    torch.backends.cuda.enable_cudnn_sdp(True)
    try:
        gpu = Runtime("gpu", "NVIDIA H200", (9, 0), False)
        kwargs = build_trainer(Settings(work_dir=str(tmp_path)), gpu, "bf16-mixed", tokenizer=None)
        assert kwargs["accelerator"] == "gpu" and kwargs["deterministic"] == "warn"
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(True)


FAULTS_PER_STEP = """
import resource, sys, torch
from transformers import BertConfig, BertForSequenceClassification
if sys.argv[1] == "keep":
    from nlpbook_helpers.runtime import keep_freed_memory
    keep_freed_memory()
config = BertConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512)
model = BertForSequenceClassification(config)
batch = {"input_ids": torch.randint(5, 1000, (32, 40)), "labels": torch.zeros(32, dtype=torch.long)}
for _ in range(3):
    model(**batch).loss.backward()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    model(**batch).loss.backward()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 10)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc settings exist on Linux only")
def test_keep_freed_memory_stops_the_page_faults_of_a_training_step():
    def faults_per_step(mode, env=None):
        run = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP, mode], capture_output=True, text=True, check=True,
                             env={**os.environ, **(env or {})})
        return int(run.stdout)

    # How often glibc's own moving thresholds hand memory back varies from machine to machine (2,700-4,900 faults
    # a step here, 866 on another), so the control pins them low: then every activation faults, everywhere.
    handed_back = {"MALLOC_MMAP_THRESHOLD_": "131072"}
    assert faults_per_step("default", handed_back) > 10_000  # measured 22,300
    assert faults_per_step("keep", handed_back) < 500  # measured 0-96: keep_freed_memory overrides the low threshold
    assert faults_per_step("keep") < 500  # measured 0-128


def test_a_cpu_trainer_keeps_freed_memory(tmp_path, monkeypatch):
    import pytorch_lightning as pl

    from nlpbook_helpers import trainer
    from nlpbook_helpers.settings import Settings

    calls = []
    monkeypatch.setattr(pl, "Trainer", lambda **kwargs: kwargs)
    monkeypatch.setattr(trainer, "keep_freed_memory", lambda: calls.append("kept"))
    kwargs = trainer.build_trainer(Settings(work_dir=str(tmp_path)), Runtime("cpu", "CPU", None, False), "32-true", None)
    assert kwargs["accelerator"] == "cpu" and calls == ["kept"]
