"""A library whose API breaks under a run is named, with its version and a pin inside our ranges that undoes
the upgrade; input errors, unfit model folders and resource errors get no such note; CUDA out of memory gets its own.

Also the break that made this necessary: transformers 5.25 turned Hub kernels on
by default and re-kernelizes a model on every train()/eval(), which refuses any
device the kernels package does not list (a TPU's 'xla'). Our models must never
hand their device to it.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import transformers

from nlpbook_helpers.cli import main
from nlpbook_helpers.support.errors import NlpbookError
from nlpbook_helpers.support.library_errors import explain_library_error
from nlpbook_helpers.model import load_model


def test_a_loaded_model_switches_train_and_eval_on_any_device(tiny_bert):
    model = load_model(str(tiny_bert))
    model.to("meta")  # a device the kernels package does not know, like 'xla'
    model.train()
    model.eval()
    assert not model.training


def raised_by(call):
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def copy_model(tiny_bert, folder: Path) -> Path:
    folder.mkdir()
    for path in Path(tiny_bert).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def break_transformers_api(monkeypatch, how: str) -> None:
    """What a release that renames or re-signs a function looks like to its callers inside transformers."""
    from transformers.configuration_utils import PretrainedConfig

    if how == "renamed":  # AttributeError, raised in transformers' own frame
        monkeypatch.delattr(PretrainedConfig, "get_config_dict")
    else:  # TypeError: "takes 1 positional argument but 2 were given"
        monkeypatch.setattr(PretrainedConfig, "get_config_dict", classmethod(lambda cls: {}))


@pytest.mark.parametrize("how", ["renamed", "re-signed"])
def test_an_api_break_inside_transformers_names_it_and_a_pin_inside_our_range(tmp_path, tiny_bert, monkeypatch, how):
    from nlpbook_helpers.support.library_errors import downgrade_pin

    break_transformers_api(monkeypatch, how)
    error = raised_by(lambda: transformers.AutoConfig.from_pretrained(str(tiny_bert)))
    assert isinstance(error, (AttributeError, TypeError))
    note = explain_library_error(error)
    version = importlib.metadata.version("transformers")
    pin = downgrade_pin("transformers", version)
    if pin is None:  # the lowest profile runs transformers 5.0.0, the lowest we declare: nothing older to suggest
        assert version == "5.0.0" and "pip install" not in note and "transformers 5.0.0" in note
    else:
        assert pin == f"transformers>=5.0,<{version}", pin
        assert f'pip install "{pin}"' in note and "Colab" in note and "restart the runtime" in note


def test_the_suggested_pin_installs_alongside_our_ranges(tmp_path):
    """pip resolves our declared transformers range together with the pin the note suggests (metadata only)."""
    from nlpbook_helpers.support.library_errors import downgrade_pin, our_dependencies

    pin = downgrade_pin("transformers", "5.25.0")
    assert pin == "transformers>=5.0,<5.25.0"
    assert downgrade_pin("transformers", "5.0.0") is None  # "<5.0.0" would leave our range: never suggested
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                             "--quiet", "--target", str(tmp_path / "t"), our_dependencies()["transformers"], pin],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    refused = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                              "--quiet", "--target", str(tmp_path / "t"), our_dependencies()["transformers"],
                              "transformers<5.0.0"], capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0  # the check can fail: a pin below our range does not resolve


def test_input_errors_inside_libraries_get_no_note(tmp_path):
    from huggingface_hub.utils import validate_repo_id

    (tmp_path / "config.json").write_text("{ not json", encoding="utf-8")  # a broken model folder
    broken = raised_by(lambda: transformers.AutoConfig.from_pretrained(str(tmp_path)))
    empty_name = raised_by(lambda: validate_repo_id(""))  # what `push --repo-id ""` meets (HFValidationError)
    as_a_number = raised_by(lambda: range("two"))  # a TypeError about a value, not a call
    for error in (broken, empty_name, as_a_number):
        assert explain_library_error(error) is None, error


def test_cuda_out_of_memory_gets_its_own_line_with_the_settings():
    import torch

    from nlpbook_helpers.settings import Settings

    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 96.00 MiB")
    note = explain_library_error(error, Settings(batch_size=32, max_seq_length=128))
    assert "lower batch_size or max_seq_length (now batch_size=32, max_seq_length=128)" in note
    assert "pip install" not in note and "GPU 메모리" in note
    assert explain_library_error(MemoryError()) is None  # the host's memory: no note either


def test_an_error_in_our_own_code_gets_no_note():
    error = raised_by(lambda: json.loads("{"))  # the standard library, called from here: no dependency to pin
    assert explain_library_error(error) is None


def test_the_command_line_adds_the_note_to_an_api_break_only(tmp_path, tiny_bert, monkeypatch, capsys):
    model_dir = copy_model(tiny_bert, tmp_path / "model")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config["num_hidden_layers"] = "two"  # transformers itself fails on this folder: no release fixes it
    (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    try:
        main(["predict", "--model-dir", str(model_dir), "전제", "가설"])
    except Exception as error:
        assert "pip install" not in "\n".join(getattr(error, "__notes__", []))
    assert "pip install" not in capsys.readouterr().err

    break_transformers_api(monkeypatch, "renamed")
    with pytest.raises(AttributeError) as caught:
        main(["predict", "--model-dir", str(tiny_bert), "전제", "가설"])
    notes = "\n".join(getattr(caught.value, "__notes__", [])) + capsys.readouterr().err
    assert notes.count("[nlpbook] This error was raised inside transformers") == 1


def test_out_of_memory_in_training_names_the_runs_batch_size(tmp_path, monkeypatch, capsys):
    import torch

    from nlpbook_helpers.pipeline import train
    from nlpbook_helpers.sample import sample_settings
    from nlpbook_helpers.task import NliTask

    def out_of_memory(self, batch, batch_idx):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    monkeypatch.setattr(NliTask, "training_step", out_of_memory)
    settings = sample_settings(tmp_path, epochs=1, max_steps=2)
    with pytest.raises(torch.OutOfMemoryError) as caught:
        train(settings)
    notes = "\n".join(getattr(caught.value, "__notes__", [])) + capsys.readouterr().err  # Python 3.10: on stderr
    assert f"(now batch_size={settings.batch_size}, max_seq_length={settings.max_seq_length})" in notes


def test_our_own_refusal_inside_a_training_run_gets_no_note(tmp_path):
    from nlpbook_helpers.pipeline import train
    from nlpbook_helpers.sample import sample_settings

    settings = sample_settings(tmp_path, epochs=1, max_steps=5)
    train(settings)
    with pytest.raises(NlpbookError) as caught:  # a recommended schedule refuses a new length, inside Lightning's fit
        train(sample_settings(tmp_path, epochs=2, max_steps=10))
    assert not getattr(caught.value, "__notes__", None)


KERNELS_USED = """
import sys
{before}
from transformers import AutoModelForSequenceClassification, pipeline
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1])
classifier = pipeline("text-classification", model=sys.argv[1])
print(model.use_kernels, classifier.model.use_kernels)
"""


def kernels_used(folder, before: str) -> str:
    """Run a notebook's own from_pretrained and pipeline(...) calls in a fresh process: did they kernelize?"""
    env = {key: value for key, value in os.environ.items() if key != "USE_HUB_KERNELS"}
    result = subprocess.run([sys.executable, "-c", KERNELS_USED.format(before=before), str(folder)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split("\n")[-2]


def test_the_notebooks_own_model_loads_use_no_hub_kernels(tiny_bert):
    """06 and 08 call from_pretrained and pipeline(...) themselves, after importing one of our modules."""
    from packaging.version import Version

    if Version(transformers.__version__) >= Version("5.25"):  # without the package, this transformers turns them on
        assert kernels_used(tiny_bert, before="") == "True True"
    assert kernels_used(tiny_bert, before="import nlpbook_helpers.course") == "False False"


def test_the_spaces_app_uses_no_hub_kernels(tmp_path, tiny_bert):
    """The Space's app.py, with a stand-in for gradio (only its names are used at import), on a local model."""
    from nlpbook_helpers.sharing.share import space_files

    app = space_files(str(tiny_bert))["app.py"]
    (tmp_path / "app.py").write_text(app, encoding="utf-8")
    (tmp_path / "gradio.py").write_text("Error = Exception\ndef __getattr__(name):\n    return lambda *a, **k: None\n")
    code = "import runpy; print(runpy.run_path('app.py')['classifier'].model.use_kernels)"
    env = {key: value for key, value in os.environ.items() if key != "USE_HUB_KERNELS"}
    result = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(tmp_path)}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False"]


def test_an_error_raised_in_our_own_code_gets_no_note_even_when_a_library_called_it():
    """Read from the innermost frame out, a frame of this package comes before tqdm's (which iterates our items)."""
    from tqdm import tqdm

    def raised_in(module):
        space = {"__name__": module}
        exec("def items():\n    raise AttributeError('no such thing')\n    yield", space)
        return raised_by(lambda: list(tqdm(space["items"](), disable=True)))

    assert explain_library_error(raised_in("nlpbook_helpers.corpus")) is None
    assert "tqdm" in explain_library_error(raised_in("someone_elses_code"))  # the same call from outside: tqdm's
