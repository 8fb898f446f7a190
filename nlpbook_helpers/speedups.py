"""Kernel choices that only matter on some GPUs, kept out of the modules that read as the book.

Apart from TF32 (below), nothing here changes what is computed, only which
of PyTorch's kernels computes it. `pipeline.prepare_run` applies it in one
line; on a CPU or a TPU it does nothing.
"""

import torch

from .runtime import Runtime


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
