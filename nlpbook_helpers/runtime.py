"""Where the code runs: device, precision, work dir, seed and logging (book: code 3-2, 3-4, 3-5).

The book assumed a Colab GPU (and asked for 8 TPU cores without CUDA, crashing a CPU runtime). Here the runtime is
detected, its precision chosen with the reason printed, and in Colab the work dir is on Drive, outliving a disconnect.
"""

import glob
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .settings import WORK_DIR
from .support.drive_files import check_writable
from .support.errors import NlpbookError
from .support.quiet import quiet_libraries

__all__ = ["Runtime", "in_colab", "detect_runtime", "check_cpu_training", "choose_precision", "resolve_work_dir",
           "seed_everything", "check_writable", "quiet_libraries"]  # the last two from support/

COLAB_DRIVE = Path("/content/drive")
COLAB_WORK_DIR = COLAB_DRIVE / "MyDrive" / "nlpbook"


@dataclass(frozen=True)
class Runtime:
    accelerator: str  # "gpu", "tpu" or "cpu"
    device_name: str
    capability: tuple | None  # CUDA compute capability, e.g. (7, 5) on a T4
    in_colab: bool


def in_colab() -> bool:
    return importlib.util.find_spec("google") is not None and importlib.util.find_spec("google.colab") is not None


def detect_runtime(accelerator: str = "auto") -> Runtime:
    """Find the accelerator, or check that the one asked for is really there."""
    import torch
    colab, has_gpu = in_colab(), torch.cuda.is_available()
    has_tpu = importlib.util.find_spec("torch_xla") is not None and (  # a chip seen in /dev: importing torch_xla
        bool(glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")) or os.environ.get("PJRT_DEVICE") == "TPU")
    if accelerator == "gpu" and not has_gpu:
        raise NlpbookError("GPU를 요청했지만 이 런타임에는 GPU가 없습니다. Colab이라면 [런타임] → [런타임 유형 변경]에서 "
                           "GPU를 고르거나 accelerator='auto'를 쓰세요.", "A GPU was asked for but this runtime has none: "
                           "pick a GPU runtime in Colab, or use accelerator='auto'.")
    if accelerator == "tpu" and not has_tpu:
        raise NlpbookError("TPU를 요청했지만 torch_xla 또는 TPU가 없습니다. Colab의 TPU 런타임(v5e-1)을 고르거나 "
                           "accelerator='auto'를 쓰세요.", "A TPU was asked for but torch_xla or a TPU chip is missing: "
                           "use Colab's TPU runtime, or accelerator='auto'.")
    if accelerator in ("auto", "gpu") and has_gpu:
        return Runtime("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0), colab)
    if accelerator in ("auto", "tpu") and has_tpu:
        return Runtime("tpu", "TPU", None, colab)
    return Runtime("cpu", "CPU", None, colab)


CPU_SECONDS_PER_PAIR = 0.27  # kcbert-base (109M parameters) on Colab's 2-vCPU runtime: 5 KLUE-NLI epochs take ~9.5 h
FULL_SIZE = 20_000_000  # parameters; the course's tiny test models have ~0.1M


def check_cpu_training(runtime: Runtime, asked: str, model, pairs_to_train: int) -> None:
    """On Colab, no full-size model is trained on a CPU unless accelerator="cpu" was asked for: a learner whose GPU
    quota ran out gets a CPU runtime, and "Run all" would start a run of many hours."""
    parameters = sum(p.numel() for p in model.parameters())
    if not (runtime.in_colab and runtime.accelerator == "cpu" and asked != "cpu" and parameters > FULL_SIZE):
        return
    hours = pairs_to_train * CPU_SECONDS_PER_PAIR * parameters / 109e6 / 3600
    raise NlpbookError(f"이 런타임에는 GPU가 없어 CPU로 학습하면 약 {hours:.0f}시간 걸립니다. [런타임] → [런타임 유형 "
                       "변경]에서 T4 GPU를 고르고 다시 실행하세요(GPU 할당량이 다 찼다면 나중에). 그래도 CPU로 하려면 "
                       "accelerator='cpu'를 주세요.", "This runtime has no GPU: training on the CPU would take about "
                       f"{hours:.0f} hours. Pick a T4 GPU in Runtime > Change runtime type and run again (later, if "
                       "your GPU quota is used up), or give accelerator='cpu' to train on the CPU anyway.")


def choose_precision(runtime: Runtime, requested: str = "auto") -> tuple[str, str]:
    """(precision, why) for Lightning's Trainer. A T4 or V100 has no bf16 tensor cores (4x slower than fp16); from
    capability 8.0 bf16 is as fast, without loss scaling. On a TPU, bf16-true weights round a 5e-5 LayerNorm step
    away (scripts/check_xla.py); XLA has no bf16-mixed. A CPU emulates bf16: 8.2 samples/s, fp32 25.4 (benchmarks/)."""
    if requested != "auto":
        return requested, "직접 지정한 값입니다"
    if runtime.accelerator == "gpu":
        if runtime.capability < (8, 0):
            major, minor = runtime.capability
            return "16-mixed", f"{runtime.device_name}(연산 능력 {major}.{minor})에는 빠른 bf16 연산이 없습니다"
        return "bf16-mixed", f"{runtime.device_name}에는 bf16 텐서 코어가 있습니다"
    if runtime.accelerator == "tpu":
        return "32-true", "가중치를 fp32로 두어 작은 갱신이 반올림으로 사라지지 않습니다. 행렬 곱은 TPU가 어차피 bf16으로 합니다"
    return "32-true", "이런 CPU에서는 fp32가 가장 빠르게 측정되었습니다"


def resolve_work_dir() -> Path:
    """NLPBOOK_WORK_DIR if set (the tests set it); in Colab, MyDrive/nlpbook on Google Drive, mounted here (Colab
    asks for permission on every new runtime); else a local folder."""
    if os.environ.get("NLPBOOK_WORK_DIR"):
        work_dir = Path(os.environ["NLPBOOK_WORK_DIR"])
    elif in_colab():
        work_dir = COLAB_WORK_DIR
        if not (COLAB_DRIVE / "MyDrive").is_dir():
            from google.colab import drive
            try:
                drive.mount(str(COLAB_DRIVE))
            except Exception as error:  # a refusal, a closed dialog, a timeout: Colab's own types, one line for all
                local = "os.environ['NLPBOOK_WORK_DIR'] = '/content/nlpbook-work'"
                raise NlpbookError(
                    f"Google Drive를 연결하지 못했습니다({type(error).__name__}: {error}). 셀을 다시 실행해 Drive "
                    f"접근을 허용하세요. 아니면 로컬 폴더를 쓰세요({local}, 명령줄에서는 --work-dir; 런타임이 끊기면 사라짐).",
                    f"Could not mount Google Drive ({type(error).__name__}: {error}): run the cell again and allow "
                    f"Drive access, or use a local folder ({local}, or --work-dir; lost when the runtime disconnects).",
                ) from None
    else:
        work_dir = Path(WORK_DIR)
    check_writable(work_dir)
    return work_dir


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (and dataloader workers) for repeatable runs (book: code 3-4)."""
    import pytorch_lightning as pl
    pl.seed_everything(seed, workers=True, verbose=False)
