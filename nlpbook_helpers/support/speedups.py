"""Speed-ups for the GPU, kept out of the modules that read as the book: apart from TF32 they change only how
PyTorch runs, not what it computes, and on a CPU or a TPU they do nothing unless asked for."""

import torch

from .errors import NlpbookError
from ..runtime import Runtime

# With a compiled model, batches are padded to a multiple of this many tokens: at most 8 lengths up to
# max_seq_length 64, and shapes that suit the GPU's matrix units.
PAD_MULTIPLE = 8


def use_gpu_speedups(runtime: Runtime) -> None:
    """On a GPU: no cuDNN attention, which PyTorch prefers on Hopper and which plans anew for every batch shape
    (dynamic padding made each new length's first step many times slower: benchmarks/README.md); TF32 allowed
    (ample for fine-tuning, several times faster from Ampere on)."""
    if runtime.accelerator == "gpu":
        torch.backends.cuda.enable_cudnn_sdp(False)
        torch.set_float32_matmul_precision("high")


def compile_model(model, runtime: Runtime, setting: str) -> bool:
    """torch.compile the model in place for "on", or "auto" on an Ampere or newer GPU, where launching many small
    kernels sets the pace and compiling fuses them (a minute at the first steps; dynamic=True: one graph for all
    lengths); a T4's arithmetic sets its pace. state_dict and save_pretrained are unchanged. Returns whether it did."""
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
