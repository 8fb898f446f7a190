"""A library that breaks under a run is named, with its version and the pin that undoes the upgrade.

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
from nlpbook_helpers.errors import NlpbookError
from nlpbook_helpers.library_errors import explain_library_error
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


def test_an_error_inside_transformers_names_it_and_the_pin(tmp_path):
    (tmp_path / "config.json").write_text("{ not json", encoding="utf-8")  # json raises, inside transformers' call
    error = raised_by(lambda: transformers.AutoConfig.from_pretrained(str(tmp_path)))
    note = explain_library_error(error)
    version = importlib.metadata.version("transformers")
    assert f'pip install "transformers<{version}"' in note
    assert "Colab" in note and "restart the runtime" in note


def test_an_error_in_our_own_code_gets_no_note():
    error = raised_by(lambda: json.loads("{"))  # the standard library, called from here: no dependency to pin
    assert explain_library_error(error) is None


def test_the_command_line_prints_the_note_under_a_library_traceback(tmp_path, tiny_bert, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for path in Path(tiny_bert).iterdir():
        (model_dir / path.name).write_bytes(path.read_bytes())
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config["num_hidden_layers"] = "two"  # transformers itself fails on this, not our checks
    (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(Exception) as caught:
        main(["predict", "--model-dir", str(model_dir), "전제", "가설"])
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "pip install" in notes or "pip install" in capsys.readouterr().err


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
    from nlpbook_helpers.share import space_files

    app = space_files(str(tiny_bert))["app.py"]
    (tmp_path / "app.py").write_text(app, encoding="utf-8")
    (tmp_path / "gradio.py").write_text("Error = Exception\ndef __getattr__(name):\n    return lambda *a, **k: None\n")
    code = "import runpy; print(runpy.run_path('app.py')['classifier'].model.use_kernels)"
    env = {key: value for key, value in os.environ.items() if key != "USE_HUB_KERNELS"}
    result = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(tmp_path)}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False"]
