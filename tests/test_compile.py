"""The compile setting: off by default on a CPU, and a compiled model trains through the whole pipeline."""

import pytest
import torch
from torch._dynamo.utils import counters

from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.pipeline import fit, prepare_run
from nlpbook_helpers.runtime import Runtime
from nlpbook_helpers.sample import sample_settings
from nlpbook_helpers.support.speedups import PAD_MULTIPLE, compile_model


def is_compiled(model) -> bool:
    return model._compiled_call_impl is not None


def test_compile_is_off_by_default_on_a_cpu(tmp_path):
    run = prepare_run(sample_settings(tmp_path))
    assert not is_compiled(run.model)
    assert any(batch["input_ids"].shape[1] % PAD_MULTIPLE for batch in run.train_loader)  # plain dynamic padding


def test_compile_defaults_per_runtime_and_is_refused_on_a_tpu():
    gpu, cpu, tpu = Runtime("gpu", "NVIDIA H200", (9, 0), False), *(Runtime(k, k, None, False) for k in ("cpu", "tpu"))
    assert compile_model(torch.nn.Linear(2, 2), gpu, "auto")
    assert not compile_model(torch.nn.Linear(2, 2), Runtime("gpu", "Tesla T4", (7, 5), True), "auto")
    assert not compile_model(torch.nn.Linear(2, 2), cpu, "auto")
    assert not compile_model(torch.nn.Linear(2, 2), gpu, "off")
    assert not compile_model(torch.nn.Linear(2, 2), tpu, "auto")
    with pytest.raises(NlpbookError, match="TPU"):
        compile_model(torch.nn.Linear(2, 2), tpu, "on")


def test_a_compiled_model_trains_like_the_eager_one_with_few_graphs(tmp_path):
    eager = fit(prepare_run(sample_settings(tmp_path / "eager", epochs=2)))

    torch._dynamo.reset()
    counters.clear()
    run = prepare_run(sample_settings(tmp_path / "compiled", epochs=2, compile="on"))
    assert is_compiled(run.model)
    lengths = {batch["input_ids"].shape[1] for loader in (run.train_loader, run.dev_loader) for batch in loader}
    assert all(length % PAD_MULTIPLE == 0 for length in lengths) and len(lengths) > 1
    # The pipeline compiled with inductor. Its code generation takes minutes on a small CPU, so the same
    # module is compiled again with AOTAutograd's eager backend: the same graph capture, forward and
    # backward, run by PyTorch's own kernels (inductor's kernels are exercised by benchmarks/gpu_session.sh).
    run.model.compile(backend="aot_eager", dynamic=True)
    compiled = fit(run)

    assert [row["step"] for row in compiled["epochs"]] == [23, 46]
    for ours, theirs in zip(compiled["epochs"], eager["epochs"]):
        assert ours["val_acc"] == pytest.approx(theirs["val_acc"], abs=0.02)
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], abs=0.02)
    # one graph for training and one for evaluation, whatever the batch length; none recompiled for a new length
    assert counters["stats"]["unique_graphs"] <= 3
    assert not counters["recompiles"]
    checkpoint = torch.load(tmp_path / "compiled/runs/sample/checkpoints/last.ckpt", weights_only=False)
    assert not any("_orig_mod" in key for key in checkpoint["state_dict"])  # loadable by an eager model
