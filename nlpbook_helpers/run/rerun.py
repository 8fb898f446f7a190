"""The fit cell run again in the same notebook kernel: after Colab's stop button, a finished run, or a change in §1.

A kernel keeps every object between cells: after a stop the model holds half-trained weights and the Trainer its loop
counters, so `check_fresh` refuses used objects, or ones built from other settings, naming the cells to run again.
"""

import signal
import sys
import threading
import weakref
from dataclasses import fields
from pathlib import Path

from pytorch_lightning.callbacks import Callback

from ..support.errors import NlpbookError
from .checkpoints import load_checkpoint, planned_steps

AGAIN = ("07의 3절부터 이 셀까지 차례로 다시 실행하거나 [런타임] → [모두 실행]을 누르세요",
         "run 07's cells again from §3 down to this one, or Runtime → Run all")

_used = weakref.WeakSet()  # every trainer, task, model and loader a fit has started with in this kernel


class StopPressed(BaseException):
    """The stop button: a BaseException no `except Exception` swallows, not a KeyboardInterrupt (Lightning's exit)."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [str(self)]


class KernelGuard(Callback):
    """Mark what a fit uses, keep the Trainer's settings, and in a notebook kernel turn the stop button (SIGINT) into
    StopPressed: one line saying what last.ckpt kept. On the command line Ctrl-C keeps Lightning's own handling."""

    def __init__(self, settings, last_checkpoint):
        self.settings, self.last_checkpoint, self.previous = settings, last_checkpoint, None  # previous SIGINT handler

    def setup(self, trainer, pl_module, stage):
        if stage != "fit":
            return
        _used.update((trainer, pl_module, pl_module.model))  # from here on a fit changes them
        ipython = sys.modules.get("IPython")  # a Jupyter or Colab kernel's shell has a `kernel`, a terminal's not
        if (ipython is not None and getattr(ipython.get_ipython(), "kernel", None) is not None
                and threading.current_thread() is threading.main_thread()):
            self.previous = signal.signal(signal.SIGINT, self.stop)

    def on_train_start(self, trainer, pl_module):
        _used.update((trainer.train_dataloader, trainer.val_dataloaders))  # fit() is given one of each

    def stop(self, signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second press while Lightning tidies up changes nothing
        step = self.last_checkpoint.saved_step
        if step is None:
            raise StopPressed(f"학습을 멈췄습니다. 저장된 체크포인트가 없어 다시 실행하면 처음부터(같은 시드로) 학습합니다: {AGAIN[0]}.")
        raise StopPressed(f"학습을 멈췄습니다. 스텝 {step}까지의 학습이 {self.last_checkpoint.path}에 남아 있습니다. "
                          f"{AGAIN[0]}. 그러면 스텝 {step}에서 이어서 학습합니다.")

    def on_exception(self, trainer, pl_module, exception):
        self.teardown(trainer, pl_module, "fit")

    def teardown(self, trainer, pl_module, stage):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def check_fresh(settings, trainer, task, train_loader, dev_loader) -> None:
    """Refuse objects a fit already used (except after a finished run: then say where its results are), or built
    from other settings than `settings` (those the Trainer's KernelGuard keeps, the task's, the loader's)."""
    objects = {("트레이너", "trainer"): trainer, ("태스크", "task"): task, ("모델", "model"): task.model,
               ("학습 로더", "training loader"): train_loader, ("검증 로더", "validation loader"): dev_loader}
    used = [name for name, thing in objects.items() if thing in _used]
    last = Path(settings.output_dir) / "checkpoints" / "last.ckpt"
    done = load_checkpoint(last)["global_step"] if used and last.exists() else -1
    if done >= planned_steps(settings, len(train_loader)):  # the run trained all it was asked to
        metrics, best = Path(settings.output_dir) / "metrics.json", Path(settings.output_dir) / "best"
        raise NlpbookError(f"이 학습은 이미 끝났습니다(스텝 {done}). 결과는 {metrics}과 {best}에 있고, 아무것도 바꾸지 않았습니다. 다음 셀부터 실행해 결과를 보세요.",
                           f"This run has already finished (step {done}); its results are in {metrics} and {best}, "
                           "and nothing was changed. Run the next cells to see them.")
    if used:
        raise NlpbookError(
            f"이 셀의 {', '.join(ko for ko, _ in used)}는 앞선 학습에서 이미 쓰였습니다(멈춘 학습이 메모리에 남아 있습니다). "
            f"{AGAIN[0]}. 그러면 마지막 체크포인트에서 이어서 학습합니다.",
            f"This cell's {', '.join(en for _, en in used)} were already used by an earlier fit (a stopped run is "
            f"still in memory): {AGAIN[1]}, and the run continues from its last checkpoint.")
    guard = next((callback for callback in trainer.callbacks if isinstance(callback, KernelGuard)), None)
    built = {f.name: getattr(guard.settings, f.name) for f in fields(settings)} if guard is not None else {}
    built |= {"learning_rate": task.learning_rate, "schedule": task.schedule, "batch_size": train_loader.batch_size,
              "model_name": getattr(task.model, "name_or_path", settings.model_name)}
    built["seed"] = getattr(train_loader.sampler, "seed", settings.seed)
    changed = ", ".join(f"{name} {value!r} → {getattr(settings, name)!r}"
                        for name, value in built.items() if value != getattr(settings, name))
    if changed:
        raise NlpbookError(f"1절의 설정이 이 셀의 트레이너, 태스크, 모델, 로더를 만들 때와 달라({changed}) 섞인 학습을 하지 않도록 멈춥니다: {AGAIN[0]}.",
                           f"The settings of §1 differ from those the trainer, task, model and loaders were built "
                           f"with ({changed}); so as not to train a mix of the two: {AGAIN[1]}.")
