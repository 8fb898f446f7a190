"""Notebook 07 in a real Jupyter kernel, stopped the way Colab's stop button stops it, then run again.

A kernel keeps every object between cells, so what the command-line resume
tests prove says nothing about a learner who presses stop and runs the fit
cell again. Here 07's own cells run in a kernel started with jupyter_client
(as nbclient and Colab use it). A cell added after the trainer's pauses the
fit at a chosen point (a step, a validation, the best/ export) and the test
sends a real kernel interrupt there. Every path must end with the
uninterrupted run's metrics.json, byte for byte: the same seed, data and CPU.

Smoke mode: the bundled sample and the tiny model, 3 epochs of 23 steps.
"""

import json
import os
import queue
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EPOCHS = 3  # 23 steps each on the sample

# Pauses the fit where a learner's stop would land; `where` names a hook and `at` the global step there.
PAUSE = '''
import time
from pytorch_lightning.callbacks import Callback

class PauseForTheStopButton(Callback):
    def __init__(self, where, at):
        self.where, self.at = where, at

    def pause(self, trainer, where):
        if where == self.where and trainer.global_step == self.at:
            print("PAUSED", flush=True)
            time.sleep(120)

    def on_train_batch_end(self, trainer, *args):
        self.pause(trainer, "step")

    def on_validation_batch_end(self, trainer, *args):
        self.pause(trainer, "validation")

trainer.callbacks.append(PauseForTheStopButton({where!r}, {at}))
'''
# Pauses inside the best/ export, after the new copy is written and before it replaces best/.
PAUSE_IN_EXPORT = '''
import time
from nlpbook_helpers.run import best_model

def replace_dir_slowly(part, best, _replace=best_model.replace_dir):
    print("PAUSED", flush=True)
    time.sleep(120)
    _replace(part, best)

best_model.replace_dir = replace_dir_slowly
'''
UNDO_PAUSE_IN_EXPORT = "best_model.replace_dir = replace_dir_slowly.__defaults__[0]"


class Kernel:
    """One python3 kernel in `work_dir`'s smoke mode, driven through jupyter_client's messages."""

    def __init__(self, work_dir: Path):
        from jupyter_client import KernelManager

        env = {**os.environ, "NLPBOOK_SMOKE": "1", "NLPBOOK_WORK_DIR": str(work_dir), "OMP_NUM_THREADS": "1",
               "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(NOTEBOOKS), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, interrupt_on: str | None = None, timeout: float = 300) -> dict:
        """Execute `code`; interrupt the kernel once a stream prints `interrupt_on`. Returns its text and error.

        A request that reaches ipykernel just after a cell failed can be aborted unrun (its stop-on-error
        window; seen with Colab's ipykernel 6.17): it is sent again, as a learner would press run again.
        """
        for _ in range(3):
            result = self.execute(code, interrupt_on, timeout)
            if result["status"] != "aborted":
                return result
            time.sleep(1)
        raise AssertionError(f"the kernel aborted this cell three times:\n{code[:300]}")

    def execute(self, code: str, interrupt_on: str | None, timeout: float) -> dict:
        msg_id = self.client.execute(code)
        text, error, interrupted = [], None, False
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no answer in {timeout} s to:\n{code[:300]}\n--- printed so far:\n{''.join(text)}")
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                text.append(content["text"])
                if interrupt_on and not interrupted and interrupt_on in content["text"]:
                    self.manager.interrupt_kernel()
                    interrupted = True
            elif kind in ("execute_result", "display_data"):
                text.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error = content
            elif kind == "status" and content["execution_state"] == "idle":
                break
        while (reply := self.client.get_shell_msg(timeout=timeout))["parent_header"].get("msg_id") != msg_id:
            pass  # the replies to earlier cells
        if reply["content"]["status"] == "aborted":
            return {"status": "aborted"}
        if interrupt_on:
            assert interrupted, f"never printed {interrupt_on!r}:\n{''.join(text)}"
        return {"status": reply["content"]["status"], "text": "".join(text), "error": error}

    def ok(self, code: str) -> str:
        result = self.run(code)
        assert result["error"] is None, "\n".join(result["error"]["traceback"])
        return result["text"]

    def close(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def cells_07() -> dict[str, str]:
    """07's code cells by role: install, settings, and the cells from §3 down to the fit cell (with the inspections)."""
    code = [cell.source for cell in nbformat.read(NOTEBOOKS / "07_training.ipynb", as_version=4).cells
            if cell.cell_type == "code"]
    settings = next(i for i, source in enumerate(code) if "course_settings(" in source)
    runtime = next(i for i, source in enumerate(code) if "detect_runtime(" in source)
    trainer = next(i for i, source in enumerate(code) if "build_trainer(" in source)
    fit = next(i for i, source in enumerate(code) if "trainer.fit(" in source)
    return {"before_settings": code[:settings], "settings": code[settings],
            "shorter": f"from dataclasses import replace\nsettings = replace(settings, epochs={EPOCHS})",
            "to_trainer": code[runtime : trainer + 1], "fit": code[fit], "after_fit": code[fit + 1 :]}


class Course07:
    """07 in one kernel: the cells a learner runs, in the order a test gives."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.cells = cells_07()
        self.kernel = Kernel(work_dir)

    def settings(self):
        for source in self.cells["before_settings"]:
            self.kernel.ok(source)
        self.kernel.ok(self.cells["settings"])
        self.kernel.ok(self.cells["shorter"])

    def build(self, pause: str | None = None):
        """§3 to §7: runtime, seed and model, loaders, task, trainer; then the pause the test asks for."""
        for source in self.cells["to_trainer"]:
            self.kernel.ok(source)
        if pause:
            self.kernel.ok(pause)

    def fit(self, stop: bool = False) -> dict:
        return self.kernel.run(self.cells["fit"], interrupt_on="PAUSED" if stop else None)

    def run_all(self, pause: str | None = None) -> dict:
        """[런타임] → [모두 실행] up to the fit cell, then the fit cell."""
        self.settings()
        self.build(pause)
        return self.fit(stop=pause is not None)

    @property
    def output_dir(self) -> Path:
        return self.work_dir / "runs" / "sample"

    def metrics(self) -> str:
        return (self.output_dir / "metrics.json").read_text(encoding="utf-8")


def the_stop_line(result: dict) -> str:
    """A stopped fit cell shows one Korean line, not Lightning's shutdown, a SystemExit or a traceback."""
    error = result["error"]
    assert error is not None and error["ename"] == "StopPressed", result
    assert len(error["traceback"]) == 1, error["traceback"]
    shown = error["traceback"][0] + result["text"]
    for noise in ("SystemExit", "To exit", "Detected KeyboardInterrupt", "Traceback", "KeyboardInterrupt"):
        assert noise not in shown, shown
    assert error["traceback"][0].startswith("학습을 멈췄습니다."), error["traceback"]
    return error["traceback"][0]


def refused(result: dict, *words: str) -> str:
    """A fit cell refused in one line, naming the cells to run again (nothing trained)."""
    error = result["error"]
    assert error is not None and error["ename"] == "NlpbookError", result
    assert len(error["traceback"]) == 1, error["traceback"]
    for word in words:
        assert word in error["traceback"][0], error["traceback"][0]
    return error["traceback"][0]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """metrics.json and best/'s weights of 07 run once without a stop."""
    course = Course07(tmp_path_factory.mktemp("uninterrupted"))
    try:
        result = course.run_all()
        assert result["error"] is None, result
        return {"metrics": course.metrics(), "weights": (course.output_dir / "best" / "model.safetensors").read_bytes()}
    finally:
        course.kernel.close()


@pytest.fixture
def course(tmp_path):
    course = Course07(tmp_path / "work")
    yield course
    course.kernel.close()


def ends_as_uninterrupted(course: Course07, uninterrupted: dict) -> None:
    assert course.metrics() == uninterrupted["metrics"]
    assert (course.output_dir / "best" / "model.safetensors").read_bytes() == uninterrupted["weights"]
    assert json.loads(course.metrics())["epochs"][-1]["epoch"] == EPOCHS


@pytest.mark.parametrize("where, at, kept", [
    ("step", 5, None),  # before any checkpoint: starts over from the seed
    ("step", 24, 23),  # last.ckpt is the end of epoch 1
    ("validation", 46, 23),  # during epoch 2's validation
])
def test_a_stop_then_the_fit_cell_again_ends_as_an_uninterrupted_run(course, uninterrupted, where, at, kept):
    course.settings()
    course.build(PAUSE.format(where=where, at=at))
    line = the_stop_line(course.fit(stop=True))
    assert (f"스텝 {kept}까지의 학습이" in line) if kept else ("처음부터" in line), line

    # the fit cell alone, on the used objects: refused before any training, naming the cells to run again
    again = course.fit()
    refused(again, "이미 쓰였습니다", "3절부터 이 셀까지")
    # as the line says: §3 down to the fit cell
    course.build()
    result = course.fit()
    assert result["error"] is None, result
    assert ("이어서 학습합니다" in result["text"]) == (kept is not None), result["text"]
    ends_as_uninterrupted(course, uninterrupted)


def test_two_stops_in_a_row(course, uninterrupted):
    course.settings()
    course.build(PAUSE.format(where="step", at=30))
    the_stop_line(course.fit(stop=True))
    course.build(PAUSE.format(where="step", at=50))
    assert "스텝 46까지의" in the_stop_line(course.fit(stop=True))
    course.build()
    assert course.fit()["error"] is None
    ends_as_uninterrupted(course, uninterrupted)


def test_a_stop_during_the_best_export(course, uninterrupted):
    course.settings()
    course.build(PAUSE_IN_EXPORT)
    line = the_stop_line(course.fit(stop=True))
    assert "처음부터" in line, line  # epoch 1's validation had not been saved yet
    course.kernel.ok(UNDO_PAUSE_IN_EXPORT)
    course.build()
    assert course.fit()["error"] is None
    ends_as_uninterrupted(course, uninterrupted)


def test_a_stop_then_run_all(course, uninterrupted):
    course.settings()
    course.build(PAUSE.format(where="step", at=40))
    the_stop_line(course.fit(stop=True))
    result = course.run_all()  # every cell again: new settings, trainer, task, model and loaders
    assert result["error"] is None and "이어서 학습합니다" in result["text"], result
    ends_as_uninterrupted(course, uninterrupted)


def test_the_fit_cell_after_the_run_finished_says_so_and_changes_nothing(course, uninterrupted):
    assert course.run_all()["error"] is None
    files = {path: path.read_bytes() for path in course.output_dir.rglob("*") if path.is_file()}
    again = course.fit()
    line = refused(again, "이미 끝났습니다", "metrics.json", "best")
    assert "에폭" not in again["text"], again["text"]  # nothing trained
    assert {path: path.read_bytes() for path in course.output_dir.rglob("*") if path.is_file()} == files, line
    # [모두 실행] after the end: a fresh trainer restores the finished run, trains nothing, and the cells after run
    result = course.run_all()
    assert result["error"] is None and "이미 끝났습니다" in result["text"], result
    assert course.metrics() == uninterrupted["metrics"]
    for source in course.cells["after_fit"][:2]:  # metrics.json and the report: the cells right after the fit
        course.kernel.ok(source)


def test_settings_changed_in_section_1_then_only_the_fit_cell(course, uninterrupted):
    course.settings()
    course.build()
    course.kernel.ok("settings = replace(settings, learning_rate=settings.learning_rate * 2)")  # §1 edited and run
    line = refused(course.fit(), "learning_rate", "3절부터 이 셀까지")
    assert not (course.output_dir / "checkpoints").exists(), line  # nothing trained on a mix of the two
    # the same after a stop: the stopped objects are refused, whatever the settings
    course.kernel.ok("settings = replace(settings, learning_rate=settings.learning_rate / 2)")
    course.build(PAUSE.format(where="step", at=30))
    the_stop_line(course.fit(stop=True))
    course.kernel.ok("settings = replace(settings, epochs=settings.epochs + 1)")
    refused(course.fit(), "3절부터 이 셀까지")
    course.kernel.ok(f"settings = replace(settings, epochs={EPOCHS})")
    course.build()
    assert course.fit()["error"] is None
    ends_as_uninterrupted(course, uninterrupted)


def test_08_after_07_in_the_same_kernel(course):
    assert course.run_all()["error"] is None
    for source in [cell.source for cell in nbformat.read(NOTEBOOKS / "08_inference.ipynb", as_version=4).cells
                   if cell.cell_type == "code"]:
        course.kernel.ok(source)
    text = course.kernel.ok("print(best_dir, predictor.max_seq_length)")
    assert str(course.output_dir / "best") in text, text
    course.kernel.ok("stop(server)")


def test_08_alone_in_a_fresh_kernel(tmp_path):
    """A learner who trained yesterday opens 08 on a new runtime: it finds 07's best/ and runs through."""
    from nlpbook_helpers.pipeline import train
    from nlpbook_helpers.sample import sample_settings

    work_dir = tmp_path / "work"
    train(sample_settings(work_dir, epochs=1))
    kernel = Kernel(work_dir)
    try:
        for source in [cell.source for cell in nbformat.read(NOTEBOOKS / "08_inference.ipynb", as_version=4).cells
                       if cell.cell_type == "code"]:
            kernel.ok(source)
        assert str(work_dir / "runs" / "sample" / "best") in kernel.ok("print(best_dir)")
        kernel.ok("stop(server)")
    finally:
        kernel.close()
