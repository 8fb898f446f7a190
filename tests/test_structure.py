"""How the package is put together: no module imports another that imports it back, one source of flags."""

import ast
from dataclasses import fields
from pathlib import Path

import pytest

from nlpbook_helpers.cli import parser
from nlpbook_helpers.settings import Settings

PACKAGE = Path(__file__).resolve().parents[1] / "nlpbook_helpers"


def package_imports() -> dict[str, set[str]]:
    """{module: modules of ours it imports}, counting imports inside functions too."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported |= {node.module} if node.module else {alias.name for alias in node.names}
        graph[path.stem] = imported
    return graph


def test_no_import_circles_inside_the_package():
    graph = package_imports()

    def reaches(start, seen=()):
        for target in graph.get(start, ()):
            if target in seen:
                continue
            yield target
            yield from reaches(target, (*seen, target))

    circles = sorted(module for module in graph if module in set(reaches(module)))
    assert not circles, f"modules that import themselves through others: {circles}"
    assert graph["settings"] <= {"errors", "corpora"}  # settings sits low, under everything that reads it


CORPUS_CODE = {"corpus", "kornli", "corpora"}


def test_no_module_outside_the_corpus_code_names_a_corpus():
    from nlpbook_helpers.corpora import CORPORA

    named = {}
    for path in PACKAGE.glob("*.py"):
        if path.stem not in CORPUS_CODE:
            strings = {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                       if isinstance(node, ast.Constant) and isinstance(node.value, str)}
            named.update({path.stem: sorted(strings & set(CORPORA))} if strings & set(CORPORA) else {})
    assert named == {}


def test_reading_a_corpus_does_not_import_torch():
    import subprocess
    import sys

    code = "import nlpbook_helpers.corpus, nlpbook_helpers.corpora, nlpbook_helpers.settings, sys; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


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
    from nlpbook_helpers.cli import main

    for argv, shown in ((["train", "--help"], ("default: 5)", "default: 5e-05)")),
                        (["train", "--sample", "--help"], ("default: 30)", "default: 0.003)"))):
        with pytest.raises(SystemExit):
            main(argv)
        help_text = " ".join(capsys.readouterr().out.split())
        assert all(default in help_text for default in shown), help_text


def test_cli_does_not_edit_argparse_internals():
    source = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    assert "._actions" not in source and "._option_string_actions" not in source


def test_a_bad_choice_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        train_args("--schedule", "cosine")
    assert "invalid choice: 'cosine'" in capsys.readouterr().err
