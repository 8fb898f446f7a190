"""Speed-ups for the GPU, kept out of the modules that read as the book.

Apart from TF32 (below), nothing here changes what is computed, only how
PyTorch runs it. `pipeline.prepare_run` applies each in one line; on a CPU
or a TPU they do nothing unless asked for.
"""

import torch

from .errors import NlpbookError
from ..runtime import Runtime

# When the model is compiled, batches are padded to a multiple of this many tokens:
# at most 8 different lengths up to max_seq_length 64, and shapes that suit the GPU's matrix units.
PAD_MULTIPLE = 8


def use_gpu_speedups(runtime: Runtime) -> None:
    """On a GPU, let attention use the flash or memory-efficient kernels, never cuDNN's; allow TF32.

    PyTorch prefers cuDNN's attention on Hopper GPUs (H100, H200), and cuDNN
    builds an execution plan for every new batch shape. With dynamic padding
    every batch length is a new shape, so the first step at each length was
    many times slower than the rest (benchmarks/README.md). On a T4, L4 or
    A100 PyTorch does not pick cuDNN's attention first, so this changes nothing there.

    TF32: the fp32 matrix products (those autocast leaves in fp32, and all of
    them under "32-true") may use TF32 tensor cores on Ampere and later GPUs:
    10 mantissa bits instead of 23, ample for fine-tuning, and several times
    faster. Chosen here on purpose, which also answers Lightning's hint to
    choose it. A T4 has no TF32, so nothing changes there.
    """
    if runtime.accelerator == "gpu":
        torch.backends.cuda.enable_cudnn_sdp(False)
        torch.set_float32_matmul_precision("high")


def compile_model(model, runtime: Runtime, setting: str) -> bool:
    """torch.compile the model in place for setting "on", or "auto" on an Ampere or newer GPU; return whether it did.

    Eager PyTorch launches each of a BERT step's hundreds of small kernels
    from Python, and on a fast GPU the launching, not the arithmetic, sets
    the pace. Compiling fuses them into fewer, larger kernels. It costs
    about a minute at the first training step and again at the first
    validation step (dropout makes training and evaluation separate
    graphs). dynamic=True compiles one graph for every sequence length, so
    dynamic padding does not recompile at each new length.

    "auto" leaves a T4 (compute capability 7.5) eager: there the arithmetic,
    not the launching, sets the pace, so compiling gains little, and Colab's
    two CPU cores would spend minutes compiling. Ask for "on" to try it.

    `model.compile` keeps the module itself, so its state_dict, checkpoints and
    `save_pretrained` are unchanged. A TPU already compiles through XLA: "on"
    is refused there.
    """
    if runtime.accelerator == "tpu" and setting == "on":
        raise NlpbookError(
            "TPU에서는 compile='on'을 쓸 수 없습니다(XLA가 이미 컴파일합니다). 'auto'나 'off'를 쓰세요.",
            "compile='on' is not available on a TPU (XLA already compiles the model): use 'auto' or 'off'.",
        )
    launch_bound = runtime.accelerator == "gpu" and runtime.capability >= (8, 0)
    if setting == "off" or (setting == "auto" and not launch_bound):
        return False
    model.compile(dynamic=True)
    return True
