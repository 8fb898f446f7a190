"""What a learner reads: no library noise in a run, and one plain line when the hub or a path fails.

The hub is never reached: tests set HF_HUB_OFFLINE=1, or point HF_ENDPOINT at a
local server that answers as the hub does for a missing or a gated repository,
so the real huggingface_hub and transformers code raise their real exceptions.
HF_HOME is a fresh folder each time, so a model cached on the machine cannot
make a test pass.
"""

import http.server
import logging
import os
import re
import subprocess
import sys
import warnings

import pytest
from safetensors.torch import load_file, save_file

from expect import one_line
from nlpbook_helpers.cli import main
from nlpbook_helpers.support.hub import explain_hub_error, explained_hub_errors
from nlpbook_helpers.model import load_model
from nlpbook_helpers.support.quiet import quiet_libraries

NOISE = [
    re.compile(r"Warning"),  # UserWarning, FutureWarning, PossibleUserWarning ...
    re.compile(r"\.py:\d+: "),  # any warning's location, also as Lightning prints its own (no category shown)
    re.compile(r"litlogger|Tip:"),
    re.compile(r"LOAD REPORT|\| MISSING|\| UNEXPECTED"),
    re.compile(r"^[GTH]PU available: "),  # Lightning's device lines: our first log line names the device
    re.compile(r"Loading weights|Writing model shards"),  # transformers' own progress bars
    re.compile(r"to estimate number of stepping batches"),  # Lightning, when the schedule asks for its length
    re.compile(r"Restor(ing|ed all) states"),  # Lightning on a rerun: our own line says it resumes
    re.compile(r"not resumable"),  # Lightning warns of a loader without state_dict; ours has one (ResumableLoader)
    re.compile(r"`Trainer.fit` stopped"),  # Lightning's English last line: our 에폭 lines and summary say it
    re.compile(r"\bEpoch \d"),  # Lightning's bar counts epochs from 0; ours says 에폭 1 like our lines
]


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nlpbook_helpers", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def test_train_sample_and_its_resumed_rerun_print_no_library_noise(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    first = cli("train", "--sample", "--work-dir", tmp_path / "work", "--epochs", 1, "--max-steps", 5,
                "--schedule", "faithful", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    rerun = cli("train", "--sample", "--work-dir", tmp_path / "work", "--epochs", 1, "--max-steps", 10,
                "--schedule", "faithful", env=env)  # resumes at step 5, in the middle of the epoch
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for result in (first, rerun):
        output = (result.stdout + result.stderr).splitlines()
        noise = [line for line in output if any(pattern.search(line) for pattern in NOISE)]
        assert noise == []
        assert any(line.startswith("best epoch 1:") for line in output)  # the run itself still reports
    assert "이어서 학습합니다" in rerun.stdout + rerun.stderr  # our one line says it resumes, and from where
    bars = (rerun.stdout + rerun.stderr).replace("\r", "\n")
    assert "에폭 1:  43%" in bars and "| 10/23 [" in bars  # the resumed epoch's bar knows its epoch and length
    assert not re.search(r"\| [1-9]\d*/\? \[", bars)  # not Lightning's "Training: 10/?" (its issue #20603)


def test_filters_match_only_the_message_they_name(monkeypatch):
    """Lightning's num_workers hint (seen on many-core GPU machines) is dropped; another warning of its class is not."""
    from lightning_fabric.utilities.warnings import PossibleUserWarning
    from pytorch_lightning.trainer.connectors import data_connector
    from torch.utils.data import DataLoader

    class Trainer:  # _worker_check reads only this
        num_devices = 1

    monkeypatch.setattr(data_connector, "suggested_max_num_workers", lambda devices: 8)  # as on a 16-core machine
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data_connector._worker_check(Trainer(), DataLoader(range(4)), "train_dataloader")
        assert [w.category for w in caught] == [PossibleUserWarning]  # Lightning still says it
        caught.clear()
        quiet_libraries()
        data_connector._worker_check(Trainer(), DataLoader(range(4)), "train_dataloader")
        warnings.warn("The batch size could not be inferred", PossibleUserWarning)
    assert [str(w.message) for w in caught] == ["The batch size could not be inferred"]


def test_attentions_determinism_notice_is_dropped_and_other_torch_warnings_are_not():
    """torch warns this from C++ on a GPU's first backward (deterministic="warn"); it reaches Python as a UserWarning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # each warning shows once, as in a notebook
        quiet_libraries()
        for kernel in ("Memory Efficient attention", "Flash Attention"):
            warnings.warn(f"{kernel} defaults to a non-deterministic algorithm. To explicitly enable determinism call "
                          "torch.use_deterministic_algorithms(True, warn_only=False).", UserWarning)
        warnings.warn("cumsum_cuda_kernel does not have a deterministic implementation", UserWarning)
    assert [str(w.message) for w in caught] == ["cumsum_cuda_kernel does not have a deterministic implementation"]


def load_reports(model_dir) -> list[str]:
    """The LOAD REPORT messages transformers lets through while load_model loads model_dir."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addHandler(handler)
    try:
        load_model(str(model_dir))
    finally:
        logger.removeHandler(handler)
    return [record.getMessage() for record in records if "LOAD REPORT" in record.getMessage()]


def test_only_the_expected_load_report_is_dropped(tiny_bert, tmp_path):
    quiet_libraries()
    assert load_reports(tiny_bert) == []  # missing classifier.*: the new head, as fine-tuning expects

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_bert / "config.json").read_text())
    weights = load_file(tiny_bert / "model.safetensors")
    kept = {key: value for key, value in weights.items() if not key.endswith("attention.self.query.weight")}
    assert len(kept) == len(weights) - 2  # both layers' query weights are gone: reported as layer.{0, 1}
    save_file(kept, broken / "model.safetensors")
    reports = load_reports(broken)
    assert len(reports) == 1 and "query.weight" in reports[0]  # encoder weights left random are still reported


class Hub(http.server.BaseHTTPRequestHandler):
    """Every request answered as the hub does: 403 GatedRepo for names with "gated", else 401 RepoNotFound."""

    def do_HEAD(self):
        gated = "gated" in self.path
        self.send_response(403 if gated else 401)
        self.send_header("X-Error-Code", "GatedRepo" if gated else "RepoNotFound")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD


@pytest.fixture
def fake_hub(local_server):
    return local_server(Hub).url


@pytest.mark.parametrize("model, words", [
    ("beomi/kcbert-bsae", ["'beomi/kcbert-bsae' was not found", "did you mean 'beomi/kcbert-base'", "찾을 수 없습니다"]),
    ("someone/gated-bert", ["'someone/gated-bert' is a gated repository", "huggingface_hub.login()", "승인"]),
    ("beomi/kcbert base", ["'beomi/kcbert base' is neither an existing folder nor a valid hub name",
                           "did you mean 'beomi/kcbert-base'"]),
])
def test_a_hub_failure_is_one_line_naming_the_model(fake_hub, tmp_path, model, words):
    result = cli("train", "--sample", "--work-dir", tmp_path / "work", "--model", model,
                 env={"HF_ENDPOINT": fake_hub, "HF_HOME": str(tmp_path / "hf")})
    line = one_line(result)
    assert all(word in line for word in words), line


def test_offline_without_the_model_in_the_cache(tmp_path):
    result = cli("train", "--sample", "--work-dir", tmp_path / "work", "--model", "beomi/kcbert-base",
                 env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    line = one_line(result)
    assert "model 'beomi/kcbert-base'" in line and "HF_HUB_OFFLINE" in line and "not in the cache" in line


def test_no_network_is_told_apart_from_offline_mode(monkeypatch):
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as on a Colab runtime that lost its connection
    try:  # how transformers reports it: an OSError raised from the hub's error
        try:
            raise LocalEntryNotFoundError("cannot find the requested files in the local cache")
        except LocalEntryNotFoundError as error:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files") from error
    except OSError as error:
        explained = explain_hub_error(error, "beomi/kcbert-base")
    assert "Could not reach the Hugging Face hub to download the model 'beomi/kcbert-base'" in explained.en
    assert "인터넷 연결을 확인" in explained.ko


def test_other_errors_pass_through_unchanged():
    assert explain_hub_error(ValueError("a bug of ours"), "beomi/kcbert-base") is None
    with pytest.raises(KeyError, match="not a hub problem"):
        with explained_hub_errors("beomi/kcbert-base"):
            raise KeyError("not a hub problem")


def test_corpus_hub_fallback_offline(tmp_path):
    script = ("from pathlib import Path\n"
              "from nlpbook_helpers.corpus import KLUE_NLI, _klue_from_hub\n"
              "from nlpbook_helpers.support.errors import NlpbookError\n"
              "try:\n"
              "    _klue_from_hub(KLUE_NLI.dev[0], Path(r'%s'), NlpbookError('GitHub 실패.', 'GitHub failed.'))\n"
              "except NlpbookError as error:\n"
              "    print(error)\n") % (tmp_path / "klue-nli-v1.1_dev.json")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout + result.stderr[-3000:]
    assert lines[0].startswith("GitHub 실패. Hugging Face 사본도 받지 못했습니다: 오프라인 모드")
    assert "The Hugging Face copy failed too: Offline mode (HF_HUB_OFFLINE=1) kept the dataset 'klue/klue'" in lines[0]


def test_a_folder_that_is_not_a_model(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a model")
    assert main(["train", "--sample", "--work-dir", str(tmp_path / "work"), "--model", str(folder)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"{folder} holds no model weights" in last and " / " in last


def test_evaluate_without_the_dev_file_says_how_to_get_it(tmp_path, capsys):
    assert main(["evaluate", "--model-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{tmp_path / 'klue-nli-v1.1_dev.json'} does not exist" in last
    assert f"python -m nlpbook_helpers download --corpus klue-nli --data-dir {tmp_path}" in last
    assert "delete" not in last


def test_no_network_is_said_at_once_without_the_hubs_retries(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))  # nothing listens on port 9
    result = subprocess.run([sys.executable, "-m", "nlpbook_helpers", "train", "--sample", "--work-dir",
                             str(tmp_path / "work"), "--model", "beomi/kcbert-base"],
                            capture_output=True, text=True, timeout=600, env=env)
    line = one_line(result)
    assert "Could not reach the Hugging Face hub to download the model 'beomi/kcbert-base'" in line
    assert "Retrying in" not in result.stderr  # huggingface_hub's five retries (1+2+4+8+8 s) before it gives up
