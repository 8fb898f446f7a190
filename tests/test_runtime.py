import pytest
import torch

from nlpbook_helpers.support.errors import NlpbookError
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


def test_a_full_disk_at_the_probe_says_to_free_space(tmp_path, monkeypatch):
    import errno

    from nlpbook_helpers.support import drive_files

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(drive_files, "open_new", full)
    with pytest.raises(NlpbookError, match=r"the output dir \S+ \(No space left on device\): free some space or"):
        check_writable(tmp_path / "out", "출력 폴더", "the output dir")


def test_work_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPBOOK_WORK_DIR", str(tmp_path / "w"))
    assert resolve_work_dir() == tmp_path / "w"
    assert (tmp_path / "w").is_dir()


def test_not_enough_space_names_the_size_needed(tmp_path, monkeypatch):
    import shutil

    from nlpbook_helpers.support.drive_files import ensure_free_space

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10 * 2**30, 10 * 2**30 - 2**29, 2**29))
    with pytest.raises(NlpbookError, match="a checkpoint needs 1.3 GB, only 0.5 GB is free"):
        ensure_free_space(tmp_path, int(1.3 * 2**30), "체크포인트", "a checkpoint")
    ensure_free_space(tmp_path, 2**20, "체크포인트", "a checkpoint")  # enough room: no error


def test_gpu_speedups_turn_cudnn_attention_off_on_a_gpu_only():
    from nlpbook_helpers.support.speedups import use_gpu_speedups

    torch.backends.cuda.enable_cudnn_sdp(True)
    try:
        use_gpu_speedups(Runtime("cpu", "CPU", None, False))
        assert torch.backends.cuda.cudnn_sdp_enabled()
        use_gpu_speedups(Runtime("gpu", "NVIDIA H200", (9, 0), False))  # a global switch: settable without a GPU
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(True)
