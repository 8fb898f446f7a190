"""The command-line contract, end to end: train --sample, evaluate, predict, download, bad input, and its flags."""

import json
import subprocess
import sys
from dataclasses import fields

import pytest

from nlpbook_helpers.cli import main, parser
from nlpbook_helpers.sample import SAMPLE_DATA_DIR
from nlpbook_helpers.settings import Settings


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nlpbook_helpers", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One full `train --sample` run, shared by the tests below."""
    work = tmp_path_factory.mktemp("work")
    result = cli("train", "--sample", "--work-dir", work)
    assert result.returncode == 0, result.stderr[-3000:]
    return work / "runs" / "sample", result


def test_train_sample_learns_and_writes_the_contracted_files(trained):
    output, result = trained
    metrics = json.loads((output / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == list(range(1, len(metrics["epochs"]) + 1))
    assert set(metrics["epochs"][0]) >= {"epoch", "val_loss", "val_acc", "macro_f1"}
    best = next(row for row in metrics["epochs"] if row["epoch"] == metrics["best_epoch"])
    assert best["val_acc"] == max(row["val_acc"] for row in metrics["epochs"])
    assert best["val_acc"] >= 0.8, metrics  # the tiny model really learns the sample task
    assert (output / "best" / "model.safetensors").exists() and (output / "best" / "tokenizer.json").exists()
    assert (output / "checkpoints" / "last.ckpt").exists()
    assert not list(output.rglob("*.part")) and not (output / "best.old").exists()
    assert f"val_acc {best['val_acc']:.4f}" in result.stdout


def test_evaluate_prints_and_writes_json(trained, tmp_path):
    output, _ = trained
    result = cli("evaluate", "--model-dir", output / "best", "--data-dir", SAMPLE_DATA_DIR, "--output", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["accuracy"] >= 0.8
    assert sum(map(sum, report["confusion_matrix"])) == 108
    assert f"accuracy {report['accuracy']:.4f}" in result.stdout and "confusion matrix" in result.stdout


def test_predict_one_pair_and_a_jsonl_file(trained, tmp_path):
    best = trained[0] / "best"
    one = cli("predict", "--model-dir", best, "--json", "오늘 서울에는 비가 많이 내렸다.", "서울에 비가 오지 않았다.")
    assert one.returncode == 0, one.stderr
    answer = json.loads(one.stdout)
    assert answer["label"] in {"entailment", "contradiction", "neutral"}
    assert answer["label_ko"] == {"entailment": "참", "contradiction": "거짓", "neutral": "중립"}[answer["label"]]
    assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-3)

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps({"premise": f"문장 {i}", "hypothesis": "가설"}, ensure_ascii=False)
                               for i in range(5)), encoding="utf-8")
    many = cli("predict", "--model-dir", best, "--input", pairs)
    lines = many.stdout.strip().splitlines()
    assert many.returncode == 0 and len(lines) == 5
    assert all("(" in line and "entailment" in line for line in lines)


@pytest.mark.parametrize("args, words", [
    (["train", "--sample", "--lr", "-1"], "learning_rate=-1.0 must be greater than 0"),
    (["train", "--sample", "--lr", "inf"], "learning_rate=inf must be a finite number"),
    (["train", "--sample", "--seed", "-5"], "seed=-5 is out of range"),
    (["train", "--sample", "--batch-size", "0"], "batch_size=0 must be greater than 0"),
    (["train", "--sample", "--max-seq-length", "300"], "max_seq_length=300 exceeds the 128 positions"),
    (["train", "--sample", "--accelerator", "gpu"], "A GPU was asked for but this runtime has none"),
    (["train", "--sample", "--accelerator", "tpu"], "torch_xla or a TPU chip is missing"),
    (["predict", "--model-dir", "no/such/dir", "a", "b"], "does not exist"),
    (["predict", "--model-dir", "{best}", "only one"], "Expected two texts"),
    (["predict", "--model-dir", "{best}", "  ", "가설"], "the premise is empty"),
    (["predict", "--model-dir", "{best}", "--input", "{tmp}/missing.jsonl"], "does not exist"),
    (["evaluate", "--model-dir", "{best}", "--data-dir", "{tmp}"], "klue-nli-v1.1_dev.json does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys, args, words):
    # In-process (same main() as `python -m nlpbook_helpers`), to spare a process start per case.
    args = [a.format(best=trained[0] / "best", tmp=tmp_path) for a in args]
    code = main([*args, "--work-dir", str(tmp_path)] if args[0] == "train" else args)
    stderr = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and words in last and " / " in last  # Korean / English


def test_download_from_a_mirror(http_server, tmp_path):
    # The real file sizes are pinned, so a mirror serving the sample is refused as "not KLUE-NLI" —
    # which is what proves the verification runs on the CLI path too.
    sample = (SAMPLE_DATA_DIR / "klue-nli-v1.1_dev.json").read_bytes()
    http_server.routes = {"/klue-nli-v1.1_train.json": [(200, sample)], "/klue-nli-v1.1_dev.json": [(200, sample)]}
    result = cli("download", "--data-dir", tmp_path, "--base-url", http_server.url)
    assert result.returncode == 2 and "expected 24998 records" in result.stderr
    assert not (tmp_path / "klue-nli-v1.1_train.json").exists()


# ---- The flags: one per setting, generated from Settings ----

def train_args(*argv):
    return vars(parser(sample="--sample" in argv).parse_args(["train", *argv]))


def test_every_setting_is_a_train_flag_with_its_type():
    for field in fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        value = {"int": "3", "float": "0.5", "bool": "true"}.get(getattr(field.type, "__name__", ""), None)
        value = value or (field.default if field.default else "x")
        parsed = train_args(flag, value)
        assert field.name in parsed, flag
        assert type(parsed[field.name]) is type(field.default), flag


@pytest.mark.parametrize("argv, name, value", [
    (["--model", "klue/bert-base"], "model_name", "klue/bert-base"),
    (["--data-dir", "d"], "data_dir", "d"),
    (["--output-dir", "o"], "output_dir", "o"),
    (["--epochs", "2"], "epochs", 2),
    (["--max-steps", "9"], "max_steps", 9),
    (["--batch-size", "8"], "batch_size", 8),
    (["--max-seq-length", "32"], "max_seq_length", 32),
    (["--lr", "1e-4"], "learning_rate", 1e-4),
    (["--schedule", "faithful"], "schedule", "faithful"),
    (["--seed", "1"], "seed", 1),
    (["--precision", "bf16-mixed"], "precision", "bf16-mixed"),
    (["--devices", "2"], "devices", 2),
    (["--length-grouped"], "length_grouped", True),
    (["--checkpoint-every", "5"], "checkpoint_every_n_steps", 5),
])
def test_the_documented_flags_keep_working(argv, name, value):
    assert train_args(*argv)[name] == value


def test_flags_not_given_leave_the_defaults_to_settings():
    parsed = train_args("--sample")
    assert parsed["sample"] is True and not set(parsed) & {f.name for f in fields(Settings)}


def test_train_sample_help_shows_the_samples_defaults(capsys):
    for argv, shown in ((["train", "--help"], ("default: 5)", "default: 5e-05)")),
                        (["train", "--sample", "--help"], ("default: 30)", "default: 0.003)"))):
        with pytest.raises(SystemExit):
            main(argv)
        help_text = " ".join(capsys.readouterr().out.split())
        assert all(default in help_text for default in shown), help_text


def test_a_bad_choice_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        train_args("--schedule", "cosine")
    assert "invalid choice: 'cosine'" in capsys.readouterr().err
