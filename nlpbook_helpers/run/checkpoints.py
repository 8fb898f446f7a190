"""What a run keeps in its output dir, and how a rerun continues it (the book's Trainer wrote one .ckpt per epoch).

A Colab runtime disconnects without warning, and the learner runs the same
cell again, maybe on another GPU. So the output dir (on Drive) holds:
- checkpoints/last.ckpt: everything needed to continue (weights, optimizer,
  schedule, step, each process's random states, the loader's place in its
  epoch (sampling.ResumableLoader), the metrics so far and the settings that define the run), every N
  optimizer steps and after each validation. It is written to
  last.ckpt.part and fsynced; only then is the old last.ckpt emptied
  (drive_files) and the new one renamed into place. A kill at any instant
  leaves a loadable checkpoint: the old one, or a complete .part that
  resume_checkpoint puts in place.
- metrics.json and best/: the metrics of every epoch, and the best epoch's
  model (run/best_model.py), written from the history last.ckpt also carries.
- run.lock: while a run trains, so a second one (another tab, a rerun while
  the first still runs) is refused instead of overwriting its files
  (run/run_lock.py).

A rerun continues only the same run: resume_checkpoint refuses a last.ckpt
written with other settings, naming the change and the way to keep the
progress. A change of GPU class (T4 16-mixed → L4 bf16-mixed, or a CPU)
continues, since weights and optimizer state are fp32 in all three.
"""

import os
import random
from pathlib import Path

import numpy as np
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.plugins.io.xla import XLACheckpointIO
from lightning_utilities.core.apply_func import apply_to_collection
from pytorch_lightning.callbacks import Callback, TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import convert_inf

from ..corpora import corpus_identity
from ..support.drive_files import ensure_free_space, open_new, ran_out_of_space, remove_file, replace_file
from ..support.errors import NlpbookError
from .run_lock import RunLock
from ..runtime import get_logger
from .sampling import ResumableLoader, process_rank

RUN_KEY = "nlpbook_run"  # where last.ckpt keeps run_fingerprint and what the run was trained on
PRECISIONS_THAT_CONTINUE = ("32-true", "16-mixed", "bf16-mixed")  # fp32 weights and optimizer state in all three


# ---- What defines a run, and the check before continuing one ----------------------------------------------------

def run_fingerprint(settings) -> dict:
    """The settings that define a run: a checkpoint continues only with the same ones.

    Not here: epochs and max_steps (how far to go: checked against the
    schedule in LastCheckpoint), and precision (a change of GPU class
    continues, see resume_checkpoint).
    """
    return {
        "model_name": settings.model_name,
        "corpus": settings.corpus,
        "data": corpus_identity(settings.corpus, settings.data_dir),
        "max_seq_length": settings.max_seq_length,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "schedule": settings.schedule,
        "seed": settings.seed,
        "length_grouped": settings.length_grouped,
        "devices": settings.devices,
        "num_nodes": settings.num_nodes,
    }


def resume_checkpoint(settings, runtime, precision: str) -> Path | None:
    """The `ckpt_path` for trainer.fit (book: code 3-14): checkpoints/last.ckpt if this run continues it, else None.

    Before that: a save a kill interrupted is finished, a run still using
    the folder is refused, and so is a checkpoint that is damaged or was
    written with other settings (a silent resume would mix the old optimizer
    and schedule with the new settings).
    """
    output_dir = Path(settings.output_dir)
    if int(os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or 0) == 0:  # DDP's other processes: rank 0 holds it
        RunLock(output_dir).refuse_if_taken()
    path = output_dir / "checkpoints" / "last.ckpt"
    finish_interrupted_save(path)
    if not path.exists():
        return None
    saved = load_checkpoint(path).get(RUN_KEY)
    if saved is None:
        raise NlpbookError(
            f"{path}: 학습 설정 기록이 없는 체크포인트(이전 버전이 쓴 것)라 같은 학습인지 알 수 없습니다. "
            "다른 출력 폴더(output_dir)에서 새로 학습하세요.",
            f"{path} has no record of its run's settings (an older version wrote it), so it cannot be continued: "
            "train in another output_dir.",
        )
    check_same_run(path, saved["settings"], run_fingerprint(settings))
    done = finished_run(settings, saved.get("epoch_batches"))
    if done is not None:  # trainer.fit restores it and has nothing to train
        get_logger().info(f"이 학습은 이미 끝났습니다(스텝 {done}). 결과는 {output_dir / 'metrics.json'}과 "
                          f"{output_dir / 'best'}에 있습니다.")
        return path
    device = f"{runtime.device_name} ({precision})"
    if saved["device"] != device:
        check_precision_change(path, saved["device"], saved["precision"], device, precision)
        get_logger().info(f"{saved['device']} → {device}: 런타임이 바뀌었지만 가중치와 옵티마이저 상태가 fp32라 그대로 "
                          "이어서 학습합니다 / the runtime changed; weights and optimizer state are fp32, so the run "
                          "continues")
    get_logger().info(f"이어서 학습합니다: {path}")
    return path


def finished_run(settings, epoch_batches: int | None) -> int | None:
    """The step at which the run in settings.output_dir ended, if last.ckpt says it has trained all it was asked to.

    epoch_batches: the training loader's batches per epoch (last.ckpt also
    keeps it). None when there is no checkpoint or more is left to train.
    """
    path = Path(settings.output_dir) / "checkpoints" / "last.ckpt"
    if not path.exists():
        return None
    checkpoint = load_checkpoint(path)
    epoch_batches = checkpoint.get(RUN_KEY, {}).get("epoch_batches", epoch_batches)
    if epoch_batches is None:
        return None
    planned = settings.epochs * epoch_batches
    if settings.max_steps > 0:
        planned = min(planned, settings.max_steps)
    return checkpoint["global_step"] if checkpoint["global_step"] >= planned else None


def check_same_run(path: Path, saved: dict, current: dict) -> None:
    if saved.get("devices", 1) * saved.get("num_nodes", 1) != current["devices"] * current["num_nodes"]:
        was, now = saved["devices"] * saved["num_nodes"], current["devices"] * current["num_nodes"]
        raise NlpbookError(
            f"{path}: 이 학습은 GPU {was}개로 시작했습니다(한 스텝에 {was}×{current['batch_size']}쌍). GPU {now}개로 "
            f"이어가면 스텝의 크기가 달라집니다. GPU {was}개인 런타임에서 다시 실행하면 이어서 학습하고, 지금 런타임으로는 "
            "다른 출력 폴더(output_dir)에서 새로 학습하세요.",
            f"{path}: this run started on {was} GPU(s) ({was}x{current['batch_size']} pairs a step); on {now} every "
            f"step would be another size. Rerun on {was} GPU(s) to continue, or train in another output_dir.",
        )
    changed = ", ".join(f"{name} {saved.get(name)!r} → {value!r}"
                        for name, value in current.items() if saved.get(name) != value)
    if changed:
        raise NlpbookError(
            f"{path}: 지금과 다른 설정으로 하던 학습의 체크포인트입니다({changed}). 원래 설정으로 다시 실행하면 이어서 "
            "학습하고, 새 설정으로는 다른 출력 폴더(output_dir)에서 학습하세요.",
            f"{path} was written by a run with other settings ({changed}): rerun with the original settings to "
            "continue it, or use another output_dir for the new ones.",
        )


def check_precision_change(path: Path, was_device: str, was: str, now_device: str, now: str) -> None:
    if was != now and not {was, now} <= set(PRECISIONS_THAT_CONTINUE):
        raise NlpbookError(
            f"{path}: {was_device}에서 하던 학습은 {now_device}에서 이어갈 수 없습니다(bf16-true는 가중치 자체가 bf16). "
            f"precision='{was}'로 다시 실행하면 이어서 학습합니다.",
            f"{path}: the run on {was_device} cannot continue on {now_device} (bf16-true keeps the weights in bf16): "
            f"rerun with precision='{was}' to continue it.",
        )


# ---- Writing and reading checkpoints ----------------------------------------------------------------------------

class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to `<name>.part`, fsync, empty the old file, then rename (see drive_files); load without pickle."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        try:
            with open_new(part) as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
        except Exception as error:  # torch.save words a full disk "unexpected pos", with the OSError as its context
            if not ran_out_of_space(error, path.parent, 0):
                raise
            remove_file(part)
            raise NlpbookError(
                f"{path.parent}: 체크포인트를 쓰는 중에 공간이 모자랐습니다. 이전 체크포인트와 best/는 그대로 있습니다. "
                "Drive에서 파일을 지우고 다시 실행하면 마지막 체크포인트부터 이어서 학습합니다.",
                f"{path.parent}: ran out of space while writing the checkpoint. The previous checkpoint and best/ are "
                "intact: free some space on Drive and run again to continue from the last checkpoint.",
            ) from None
        replace_file(part, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        # read, not mapped: the optimizer would keep tensors mapped from a file the next save empties
        return load_checkpoint(Path(path), mmap=False)


class AtomicXLACheckpointIO(AtomicCheckpointIO, XLACheckpointIO):
    """The same on a TPU, where Lightning takes only an XLACheckpointIO; the tensors are copied to the CPU first."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        super().save_checkpoint(apply_to_collection(checkpoint, torch.Tensor, torch.Tensor.cpu), path, storage_options)


def load_checkpoint(path: Path, mmap: bool = True) -> dict:
    """The checkpoint (its tensors mapped rather than read, for a look); a damaged one is reported, never loaded.

    weights_only=True: only tensors and plain values are unpickled, so a
    crafted file (output folders live on a Drive that may be shared) cannot
    run code. Our checkpoints hold nothing else.
    """
    try:
        return torch.load(path, map_location="cpu", mmap=mmap, weights_only=True)
    except Exception as error:  # a truncated zip, a foreign pickle, an empty file: none is ours to load
        raise NlpbookError(
            f"{path}: 손상되었거나 이 과정이 쓰지 않은 체크포인트입니다({type(error).__name__}). 이 파일을 지우면 "
            "처음부터 다시 학습합니다.",
            f"The checkpoint {path} is damaged or was not written by this course ({type(error).__name__}); "
            "delete it to train from the start.",
        ) from error


def finish_interrupted_save(path: Path) -> None:
    """A complete `.part` is the newest checkpoint: put it in place. A half-written one is removed."""
    part = path.with_name(path.name + ".part")
    if not part.exists():
        return
    try:
        load_checkpoint(part)
    except NlpbookError:
        remove_file(part)
        return
    replace_file(part, path)


def rng_states() -> dict:
    """Python's, NumPy's and torch's random states, as tensors and plain values (loadable with weights_only)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    states = {"python": random.getstate(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position,
                                                      has_gauss, gauss), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class LastCheckpoint(Callback):
    """Keep checkpoints/last.ckpt fresh, hold run.lock while training, and stop a run whose loss is no number.

    last.ckpt is saved every `every_n_steps` optimizer steps and after each
    validation, never between a step and its validation (a kill there would
    skip that validation for good). A run with max_steps is validated where
    it stops, like an epoch end.
    """

    def __init__(self, output_dir: Path, every_n_steps: int, run: dict):
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / "checkpoints" / "last.ckpt"
        self.every_n_steps = every_n_steps
        self.run = run  # {"settings": run_fingerprint(...), "precision": ..., "device": ...}
        self.lock = RunLock(self.output_dir)
        self.loaded: dict | None = None
        self.saved_step: int | None = None  # the step last.ckpt holds, once this fit has saved or loaded one

    def setup(self, trainer, pl_module, stage):
        if stage == "fit" and trainer.is_global_zero:
            self.lock.acquire()

    def teardown(self, trainer, pl_module, stage):
        self.lock.release()

    def on_exception(self, trainer, pl_module, exception):
        self.lock.release()

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint[RUN_KEY] = {**self.run, "schedule_steps": schedule_steps(trainer, pl_module),
                               "epoch_batches": trainer.num_training_batches}  # to tell a finished run
        if isinstance(trainer.train_dataloader, ResumableLoader):  # its place in the epoch (see on_train_start)
            checkpoint[RUN_KEY]["loader"] = trainer.train_dataloader.state_dict()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        self.loaded = checkpoint[RUN_KEY] | {"global_step": checkpoint["global_step"]}
        self.saved_step = checkpoint["global_step"]

    def on_train_start(self, trainer, pl_module):
        # Lightning restores a loader's state itself, but not when the schedule asked for the number of steps
        # first (Lightning-AI/pytorch-lightning#20550): give it back here, before its first batch is drawn.
        if self.loaded is not None and isinstance(trainer.train_dataloader, ResumableLoader):
            # (a last.ckpt of the version before kept the same two numbers under other names)
            state = self.loaded.get("loader") or {"epoch": self.loaded["epoch"], "batches": self.loaded["batches"]}
            trainer.train_dataloader.load_state_dict(state)

    def on_fit_start(self, trainer, pl_module):
        if self.loaded is not None:  # here, not on_train_start: Lightning skips that when there is nothing to train
            check_how_far(self.path, self.loaded, trainer, pl_module)

    def state_dict(self):
        """Lightning's checkpoint has no random-number states; we add each process's, so dropout and shuffling
        continue the same way on every GPU. (Lightning calls this in every process; the checkpoint is written by one.)"""
        _, world_size = process_rank()
        every_rank = [rng_states()]
        if world_size > 1:
            every_rank = [None] * world_size
            torch.distributed.all_gather_object(every_rank, rng_states())
        return {"rng_per_rank": every_rank}

    def load_state_dict(self, state_dict):
        rank, _ = process_rank()
        set_rng_states(state_dict["rng_per_rank"][rank])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if isinstance(trainer.train_dataloader, ResumableLoader):  # before a save, which asks it where it is
            trainer.train_dataloader.trained = batch_idx + 1
        step = trainer.global_step
        if step % trainer.log_every_n_steps == 0 or step % self.every_n_steps == 0:
            check_finite(outputs["loss"], step, pl_module)
        if trainer.max_steps > 0 and step >= trainer.max_steps:
            trainer.should_stop = True  # Lightning then validates at this step, as at an epoch end
            return
        if step % self.every_n_steps == 0 and batch_idx + 1 < trainer.num_training_batches:
            self.save(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.save(trainer, pl_module)

    def save(self, trainer, pl_module):
        if trainer.is_global_zero:
            # weights + two AdamW moments, plus room for the temporary copy
            ensure_free_space(self.path.parent, 4 * sum(p.numel() * p.element_size() for p in pl_module.parameters()),
                              "체크포인트", "a checkpoint")
            self.lock.refresh()
        trainer.save_checkpoint(self.path, weights_only=False)
        self.saved_step = trainer.global_step


def schedule_steps(trainer, pl_module) -> int | None:
    """The step at which the recommended schedule's learning rate reaches 0 (None for the constant one)."""
    return None if pl_module.schedule == "faithful" else trainer.estimated_stepping_batches


class ProgressBar(TQDMProgressBar):
    """Lightning's progress bar, counting epochs from 1 as our "에폭 N:" lines do, also in a resumed epoch.

    Lightning's bar says "Epoch 0" for the first epoch. And Lightning (2.5 and later) skips
    on_train_epoch_start for an epoch resumed in its middle, where its bar sets the epoch and its length,
    so after every reconnect the bar read "Training: 20/?" (Lightning-AI/pytorch-lightning#20603).
    """

    def on_train_epoch_start(self, trainer, *args):
        # Lightning's own, with our number: its "Epoch 0" would be printed before we could rename it
        self.train_progress_bar.reset(total=convert_inf(self.total_train_batches))
        self.train_progress_bar.initial = 0
        self.train_progress_bar.set_description(f"에폭 {trainer.current_epoch + 1}")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx > 0 and self.train_progress_bar.total is None:  # only the first batch after a mid-epoch resume
            self.on_train_epoch_start(trainer)


def check_how_far(path: Path, saved: dict, trainer, pl_module) -> None:
    """A rerun may go further (a larger epochs or max_steps), but never change the lr the schedule gave at a step."""
    done, now_steps = saved["global_step"], schedule_steps(trainer, pl_module)
    if now_steps is not None and saved["schedule_steps"] != now_steps:
        longer = now_steps > saved["schedule_steps"]
        raise NlpbookError(
            f"{path}: recommended 스케줄은 학습률을 {saved['schedule_steps']} 스텝에 걸쳐 0까지 줄이도록 짜여 있습니다. "
            f"epochs나 max_steps를 바꿔 {now_steps} 스텝으로 "
            + (f"늘이면 스텝 {done}부터 학습률이 다시 올라갑니다. " if longer else
               f"줄이면 스텝 {done}부터 학습률이 계획보다 빨리 줄어듭니다. ")
            + "원래 epochs와 max_steps로 다시 실행하면 이어서 학습하고, 다른 길이로는 다른 출력 폴더(output_dir)에서 새로 "
            "학습하세요(schedule='faithful'은 학습률이 일정해 epochs를 늘려 이어갈 수 있습니다).",
            f"{path}: the recommended schedule was planned to bring the lr to 0 over {saved['schedule_steps']} steps; "
            f"a new epochs or max_steps ({now_steps} steps) would "
            + (f"raise the lr again from step {done}. " if longer else
               f"bring the lr down sooner than planned from step {done}. ")
            + "Rerun with the original epochs and max_steps to continue, or train for another length in another "
            "output_dir (schedule='faithful' keeps a constant lr and continues with a larger epochs).",
        )
    planned = trainer.estimated_stepping_batches
    if done > planned:
        raise NlpbookError(
            f"{path}: 이 학습은 이미 스텝 {done}까지 했습니다. 지금 설정(epochs={trainer.max_epochs}, "
            f"max_steps={trainer.max_steps})은 스텝 {planned}에서 끝나니 할 일이 없습니다. 결과는 best/와 "
            "metrics.json에 있고, 더 학습하려면 epochs를 늘리세요.",
            f"{path}: this run has already trained to step {done}; epochs={trainer.max_epochs}, "
            f"max_steps={trainer.max_steps} end at step {planned}, so there is nothing to do. The results are in "
            "best/ and metrics.json; give a larger epochs to train more.",
        )


def check_finite(loss, step: int, pl_module) -> None:
    if not torch.isfinite(loss.detach()).item():
        lr = pl_module.trainer.optimizers[0].param_groups[0]["lr"]
        raise NlpbookError(
            f"스텝 {step}에서 손실이 유한한 수가 아닌 값({float(loss)})이 되어 학습을 멈춥니다(학습률 {lr:g}). 학습률이 너무 크면 흔히 "
            "생깁니다: learning_rate를 줄여 다른 출력 폴더(output_dir)에서 다시 학습하세요. best/는 그대로입니다.",
            f"The loss became {float(loss)} at step {step}, so training stops (lr {lr:g}). A learning rate that is "
            "too high is the usual cause: lower learning_rate and train in another output_dir. best/ is untouched.",
        )
