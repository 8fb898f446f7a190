"""What a run keeps in checkpoints/last.ckpt, and how a rerun continues it (the book's Trainer wrote one per epoch).

A Colab runtime disconnects without warning and the learner runs the same cell again, maybe on another GPU: last.ckpt
holds all a rerun needs, written through `<name>.part` (a kill leaves the old file or a complete .part, which
resume_checkpoint puts in place). Other settings are refused, naming the change; another GPU class continues (fp32).
"""

import random
from pathlib import Path

import numpy as np
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.plugins.io.xla import XLACheckpointIO
from lightning_utilities.core.apply_func import apply_to_collection
from pytorch_lightning.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import convert_inf

from ..corpora import corpus_identity
from ..support.drive_files import atomic_write, ensure_free_space, remove_file, replace_file
from ..support.errors import NlpbookError
from ..support.log import get_logger
from .run_lock import RunLock
from .sampling import ResumableLoader, process_rank

RUN_KEY = "nlpbook_run"  # where last.ckpt keeps what defines the run, where it ran, and how long it is
PRECISIONS_THAT_CONTINUE = ("32-true", "16-mixed", "bf16-mixed")  # fp32 weights and optimizer state in all three
RUN_SETTINGS = ("model_name", "corpus", "max_seq_length", "batch_size", "learning_rate", "schedule", "seed",
                "length_grouped", "devices", "num_nodes")  # not epochs, max_steps (see check_same_run), precision
ELSEWHERE = ("다른 출력 폴더(output_dir)에서 새로 학습하세요", "train in another output_dir")


def run_fingerprint(settings) -> dict:
    """The settings that define a run, and its data's content: a checkpoint continues only with the same ones."""
    return {name: getattr(settings, name) for name in RUN_SETTINGS} | {
        "data": corpus_identity(settings.corpus, settings.data_dir)}


def resume_checkpoint(settings, runtime, precision: str) -> Path | None:
    """The `ckpt_path` for trainer.fit (book: code 3-14): checkpoints/last.ckpt if this run continues it, else None.
    Refused before any training: a folder in use, a damaged checkpoint, one of other settings or another length."""
    output_dir = Path(settings.output_dir)
    if process_rank()[0] == 0:  # DDP's other processes: the first one holds run.lock
        RunLock(output_dir).refuse_if_taken()
    path = output_dir / "checkpoints" / "last.ckpt"
    part = path.with_name(path.name + ".part")  # a kill during a save: a complete .part is the newest checkpoint
    if part.exists():
        try:
            load_checkpoint(part)
        except NlpbookError:  # half-written
            remove_file(part)
        else:
            replace_file(part, path)
    if not path.exists():
        return None
    checkpoint = load_checkpoint(path)
    check_same_run(path, settings, checkpoint)
    saved, done = checkpoint[RUN_KEY], checkpoint.get("global_step")
    if "epoch_batches" in saved and done >= planned_steps(settings, saved["epoch_batches"]):
        get_logger().info(f"이 학습은 이미 끝났습니다(스텝 {done}). 결과는 {output_dir / 'metrics.json'}과 {output_dir / 'best'}에 있습니다.")
        return path  # trainer.fit restores it and has nothing to train
    device, was, was_device = f"{runtime.device_name} ({precision})", saved["precision"], saved["device"]
    if was != precision and not {was, precision} <= set(PRECISIONS_THAT_CONTINUE):
        raise NlpbookError(f"{path}: {was_device}의 학습은 {device}에서 이어갈 수 없습니다(bf16-true는 가중치가 bf16). "
                           f"precision='{was}'로 다시 실행하면 이어서 학습합니다.",
                           f"{path}: the run on {was_device} cannot continue on {device} (bf16-true keeps the weights "
                           f"in bf16): rerun with precision='{was}' to continue it.")
    if was_device != device:
        get_logger().info(f"{was_device} → {device}: 런타임이 바뀌었지만 가중치와 옵티마이저 상태가 fp32라 그대로 이어서 "
                          "학습합니다 / the runtime changed; weights and optimizer state are fp32, so the run continues")
    get_logger().info(f"이어서 학습합니다: {path}")
    return path


def planned_steps(settings, epoch_batches: int) -> int:
    """The step the run ends at: epochs × the batches of an epoch, or max_steps where that comes first."""
    planned = settings.epochs * epoch_batches
    return min(planned, settings.max_steps) if settings.max_steps > 0 else planned


def check_same_run(path: Path, settings, checkpoint: dict) -> None:
    """Refuse a last.ckpt of other settings, GPUs or length (a rerun may go further, never change a step's lr)."""
    if RUN_KEY not in checkpoint:
        raise NlpbookError(f"{path}: 학습 설정 기록이 없는(이전 버전이 쓴) 체크포인트라 이어갈 수 없습니다. {ELSEWHERE[0]}.",
                           f"{path} has no record of its run's settings (an older version wrote it): {ELSEWHERE[1]}.")
    run, saved = checkpoint[RUN_KEY], checkpoint[RUN_KEY]["settings"]
    was, now = saved["devices"] * saved["num_nodes"], settings.devices * settings.num_nodes
    if was != now:
        raise NlpbookError(
            f"{path}: GPU {was}개로 시작한 학습(한 스텝에 {was}×{settings.batch_size}쌍)은 GPU {now}개로 이으면 스텝의 "
            f"크기가 달라집니다. GPU {was}개인 런타임에서 다시 실행하면 이어서 학습하고, 아니면 {ELSEWHERE[0]}.",
            f"{path}: this run started on {was} GPU(s) ({was}x{settings.batch_size} pairs a step); on {now} every "
            f"step would be another size. Rerun on {was} GPU(s) to continue, or {ELSEWHERE[1]}.")
    changed = ", ".join(f"{name} {saved.get(name)!r} → {value!r}"
                        for name, value in run_fingerprint(settings).items() if saved.get(name) != value)
    if changed:
        raise NlpbookError(f"{path}: 다른 설정({changed})으로 하던 학습의 체크포인트입니다. 원래 설정으로 다시 "
                           f"실행하면 이어서 학습하고, 새 설정으로는 {ELSEWHERE[0]}.",
                           f"{path} was written by a run with other settings ({changed}): rerun with the original "
                           "settings to continue it, or use another output_dir for the new ones.")
    if "epoch_batches" not in run:
        return
    done, planned = checkpoint["global_step"], planned_steps(settings, run["epoch_batches"])
    schedule_steps = run["schedule_steps"]
    if settings.schedule != "faithful" and schedule_steps != planned:
        longer = planned > schedule_steps
        raise NlpbookError(
            f"{path}: recommended 스케줄은 학습률을 {schedule_steps} 스텝에 걸쳐 0까지 줄입니다. {planned} 스텝으로 "
            + ("늘이면 학습률이 다시 올라갑니다" if longer else "줄이면 학습률이 계획보다 빨리 줄어듭니다")
            + f"(스텝 {done}부터). 원래 epochs와 max_steps로 다시 실행하면 이어서 학습하고, 다른 길이로는 {ELSEWHERE[0]}"
            "(schedule='faithful'은 학습률이 일정해 epochs를 늘려 이어갈 수 있습니다).",
            f"{path}: the recommended schedule brings the lr to 0 over {schedule_steps} steps; {planned} steps would "
            + ("raise the lr again" if longer else "bring the lr down sooner than planned") + f" from step {done}. "
            "Rerun with the original epochs and max_steps to continue, or train for another length in another "
            "output_dir (schedule='faithful' keeps a constant lr and continues with a larger epochs).")
    if done > planned:
        how_long = f"epochs={settings.epochs}, max_steps={settings.max_steps}"
        raise NlpbookError(f"{path}: 이미 스텝 {done}까지 학습해, 스텝 {planned}에서 끝나는 {how_long}로는 할 일이 없습니다. "
                           "결과는 best/와 metrics.json에 있고, 더 학습하려면 epochs를 늘리세요.",
                           f"{path}: this run has already trained to step {done}; {how_long} end at step {planned}, "
                           "so there is nothing to do. The results are in best/ and metrics.json; give a larger epochs "
                           "to train more.")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, after a free-space check and through drive_files.atomic_write; it loads
    without pickle, reading rather than mapping (the optimizer would keep tensors of a file the next save empties)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        tensors = []
        apply_to_collection(checkpoint, torch.Tensor, tensors.append)
        ensure_free_space(Path(path).parent, sum(t.nbytes for t in tensors), "체크포인트", "a checkpoint")
        with atomic_write(path, what=("체크포인트를", "the checkpoint")) as file:
            torch.save(checkpoint, file)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return load_checkpoint(Path(path), mmap=False)


class AtomicXLACheckpointIO(AtomicCheckpointIO, XLACheckpointIO):
    """The same on a TPU, where Lightning takes only an XLACheckpointIO; the tensors are copied to the CPU first."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        super().save_checkpoint(apply_to_collection(checkpoint, torch.Tensor, torch.Tensor.cpu), path, storage_options)


def load_checkpoint(path: Path, mmap: bool = True) -> dict:
    """The checkpoint, or one line if it is damaged. weights_only: a crafted file (on a Drive that may be shared)
    cannot run code; ours hold only tensors and plain values."""
    try:
        return torch.load(path, map_location="cpu", mmap=mmap, weights_only=True)
    except Exception as error:  # a truncated zip, a foreign pickle, an empty file: none is ours to load
        name = type(error).__name__
        raise NlpbookError(f"{path}: 손상되었거나 이 과정이 쓰지 않은 체크포인트입니다({name}). 지우면 처음부터 학습합니다.",
                           f"The checkpoint {path} is damaged or was not written by this course ({name}); "
                           "delete it to train from the start.") from error


class LastCheckpoint(ModelCheckpoint):
    """checkpoints/last.ckpt, with what continuing the run needs: saved every `every_n_steps` optimizer steps and after
    each validation, never between an epoch's last step and its validation (a kill there would skip it for good)."""

    def __init__(self, output_dir: Path, every_n_steps: int, run: dict):
        super().__init__(dirpath=Path(output_dir) / "checkpoints", save_last=True, save_top_k=0,
                         every_n_train_steps=every_n_steps, enable_version_counter=False)
        self.path = Path(self.format_checkpoint_name({}, self.CHECKPOINT_NAME_LAST))
        self.every_n_steps, self.run = every_n_steps, run  # run: fingerprint, precision and device
        self.loader_state = self.saved_step = None  # saved_step: last.ckpt's, once this fit has saved or loaded one

    @property
    def state_key(self) -> str:  # Lightning's own names the interval, which a rerun may change
        return "ModelCheckpoint(last.ckpt)"

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint[RUN_KEY] = {**self.run, "schedule_steps": trainer.estimated_stepping_batches,
                               "epoch_batches": trainer.num_training_batches}  # the run's length: check_same_run
        if isinstance(trainer.train_dataloader, ResumableLoader):
            checkpoint[RUN_KEY]["loader"] = trainer.train_dataloader.state_dict()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        self.loader_state, self.saved_step = checkpoint[RUN_KEY].get("loader"), checkpoint["global_step"]

    def on_train_start(self, trainer, pl_module):
        super().on_train_start(trainer, pl_module)
        # Lightning skips the loader's state when the schedule asked for the step count first (its issue #20550)
        if self.loader_state is not None and isinstance(trainer.train_dataloader, ResumableLoader):
            trainer.train_dataloader.load_state_dict(self.loader_state)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if isinstance(trainer.train_dataloader, ResumableLoader):  # Lightning draws one batch ahead of training
            trainer.train_dataloader.trained = batch_idx + 1
        if 0 < trainer.max_steps <= trainer.global_step:
            trainer.should_stop = True  # a max_steps run stops here, and Lightning validates at this step
        elif batch_idx + 1 < trainer.num_training_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            if trainer.global_step % self.every_n_steps == 0:
                self.saved_step = trainer.global_step

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved_step = trainer.global_step

    def on_train_end(self, trainer, pl_module):
        pass  # Lightning's saves here when no step did; the last validation has


class RandomStates(Callback):
    """Each process's Python, NumPy and torch random states in last.ckpt (Lightning keeps none), so dropout and
    shuffling continue the same way on every GPU. Lightning asks every process; one writes the checkpoint."""

    def state_dict(self):
        _, world_size = process_rank()
        every_rank = [self.states()]
        if world_size > 1:
            every_rank = [None] * world_size
            torch.distributed.all_gather_object(every_rank, self.states())
        return {"rng_per_rank": every_rank}

    def load_state_dict(self, state_dict):
        states = state_dict["rng_per_rank"][process_rank()[0]]
        random.setstate(states["python"])
        kind, keys, position, has_gauss, gauss = states["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
        torch.set_rng_state(states["torch"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])

    @staticmethod
    def states() -> dict:  # as tensors and plain values, which load with weights_only
        kind, keys, position, has_gauss, gauss = np.random.get_state()
        states = {"python": random.getstate(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position,
                                                          has_gauss, gauss), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            states["cuda"] = torch.cuda.get_rng_state_all()
        return states


class StopOnNaN(Callback):
    """Stop a run whose loss is no number: checked where Lightning logs and before a save (a check waits on the GPU)."""

    loss = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.loss = outputs["loss"].detach()
        if trainer.global_step % trainer.log_every_n_steps == 0:
            check_finite(self.loss, trainer.global_step, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        if self.loss is not None:
            check_finite(self.loss, trainer.global_step, pl_module)


def check_finite(loss, step: int, pl_module) -> None:
    if not torch.isfinite(loss.detach()).item():
        lr = pl_module.trainer.optimizers[0].param_groups[0]["lr"]
        raise NlpbookError(
            f"스텝 {step}에서 손실이 {float(loss)}이 되어 학습을 멈춥니다(학습률 {lr:g}). 흔히 학습률이 너무 큰 탓이니 "
            f"learning_rate를 줄여 {ELSEWHERE[0]}. best/는 그대로입니다.",
            f"The loss became {float(loss)} at step {step}, so training stops (lr {lr:g}). A learning rate that is "
            f"too high is the usual cause: lower learning_rate and {ELSEWHERE[1]}. best/ is untouched.")


class ProgressBar(TQDMProgressBar):
    """Lightning's bar, counting epochs from 1 as our "에폭 N:" lines do, also in an epoch resumed in its middle
    (Lightning skips on_train_epoch_start there, and its bar read "Training: 20/?": its issue #20603)."""

    def on_train_epoch_start(self, trainer, *args):  # Lightning's own, with our number
        self.train_progress_bar.reset(total=convert_inf(self.total_train_batches))
        self.train_progress_bar.initial = 0
        self.train_progress_bar.set_description(f"에폭 {trainer.current_epoch + 1}")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx > 0 and self.train_progress_bar.total is None:  # only the first batch after a mid-epoch resume
            self.on_train_epoch_start(trainer)
