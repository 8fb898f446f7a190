"""The course notebooks read as text: only checked outputs, one repository, the book's code in view.

The notebooks are executed by nbval (`pytest --nbval-lax notebooks`, set up
in the root conftest.py: each alone on a fresh work dir, the smoke canary,
no warning a learner would see); notebook 07 under a stop and a rerun in
tests/test_kernel.py. Here the lessons are read as files: only the
`# NBVAL_CHECK_OUTPUT` cells keep outputs, the book's code is in view, no
engineering terms, no word on the smoke mode (docs/notebooks.md has it), and
each notebook asks Colab for the runtime 01's table names.
"""

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"
COLAB_URL = re.compile(r"colab\.research\.google\.com/github/([^/\s)]+/[^/\s)]+)/blob/main/notebooks/([^\s)]+)")
# Lessons, not engineering notes: these belong in benchmarks/README.md and docs/.
ENGINEERING_TERMS = re.compile(r"page.?fault|페이지 ?폴트|glibc|malloc|cudnn|CpuDropout|H200|self\.log\b|benchmarks/|SLURM|"
                               r"\bfused\b", re.IGNORECASE)
# Talk about the smoke mode or the tests: it belongs in docs/notebooks.md, never in a lesson.
SMOKE_TALK = re.compile(r"NLPBOOK_SMOKE|스모크|smoke|테스트 모드|자동 테스트|\bCI\b", re.IGNORECASE)


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def markdown(nb) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


def notebook(prefix: str):
    return read(next(path for path in NOTEBOOKS if path.name.startswith(prefix)))


def test_the_course_has_eight_numbered_notebooks():
    assert [path.name[:3] for path in NOTEBOOKS] == [f"{i:02d}_" for i in range(1, 9)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_only_checked_cells_keep_outputs(path):
    nb = read(path)
    assert "widgets" not in nb.metadata
    for cell in code_cells(nb):
        if cell.source.startswith(CHECK):
            # compared with a fresh run; the count shows the stored outputs came from an execution
            assert cell.outputs and cell.execution_count, (
                f"checked cell without its output (run scripts/refresh_notebook_outputs.py):\n{cell.source[:200]}")
        else:
            assert not cell.outputs and cell.execution_count is None, f"unchecked cell keeps outputs:\n{cell.source[:200]}"
    checked = [cell for cell in code_cells(nb) if CHECK in cell.source]
    assert all(cell.source.startswith(CHECK) for cell in checked), "NBVAL_CHECK_OUTPUT must be the first line"


def test_every_notebook_names_the_repository_in_the_repo_file():
    repo = (ROOT / "REPO").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", repo), f"REPO must hold one line OWNER/NAME, got {repo!r}"
    for path in NOTEBOOKS:
        nb = read(path)
        sources = "\n".join(cell.source for cell in nb.cells)
        assert re.findall(r'^REPO = "([^"]*)"', sources, re.MULTILINE) == [repo], path.name
        links = COLAB_URL.findall(sources)
        assert links == [(repo, path.name)], f"{path.name}: Colab badge links {links}; run scripts/sync_repo.py"
    readme = (ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else ""
    assert {found for found, _ in COLAB_URL.findall(readme)} <= {repo}, "README badges differ: run scripts/sync_repo.py"


def test_every_notebook_starts_with_the_same_bootstrap():
    bootstraps = {code_cells(read(path))[0].source for path in NOTEBOOKS}
    assert len(bootstraps) == 1
    bootstrap = bootstraps.pop()
    assert 'find_spec("nlpbook_helpers") is None' in bootstrap
    assert "git+https://github.com/{REPO}" in bootstrap
    assert "requirements-{'tpu' if on_tpu else 'gpu'}.txt" in bootstrap
    # torch is pinned to what the runtime has, never installed or upgraded
    assert not re.search(r"install[^\n]*\btorch\b", bootstrap)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_markdown_before_every_code_cell_and_a_summary_with_exercises_at_the_end(path):
    cells = read(path).cells
    for previous, cell in zip(cells, cells[1:]):
        if cell.cell_type == "code":
            assert previous.cell_type == "markdown", f"no explanation before:\n{cell.source[:200]}"
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    ending = cells[-1].source
    assert cells[-1].cell_type == "markdown" and "## 요약" in ending and "## 연습문제" in ending


def test_every_notebook_after_01_takes_its_settings_from_course_settings():
    # 01 only prints versions and the accelerator; the others load data or models, so smoke mode must reach them
    for path in NOTEBOOKS[1:]:
        assert any("course_settings(" in cell.source for cell in code_cells(read(path))), path.name


def test_02_writes_the_book_settings_out():
    """code 3-3: the book's values in the learner's cell, not hidden behind defaults."""
    cells = [cell.source for cell in code_cells(notebook("02_")) if "course_settings(" in cell.source]
    book_values = [r'model_name="beomi/kcbert-base"', r"max_seq_length=64\b", r"batch_size=32\b",
                   r"learning_rate=5e-5\b", r"epochs=5\b", r"seed=7\b", r"work_dir=work_dir\b"]
    assert any(all(re.search(value, cell) for value in book_values) for cell in cells), cells


def test_05_builds_both_data_loaders_in_view():
    """code 3-9 and 3-10: DataLoader with its sampler and collate function, written out."""
    sources = [cell.source for cell in code_cells(notebook("05_"))]
    loader_cell = next(cell for cell in sources if "DataLoader(" in cell and "SequentialSampler(" in cell)
    assert "sampler=RandomSampler(train_set)" in loader_cell
    assert "sampler=SequentialSampler(dev_set)" in loader_cell
    assert loader_cell.count("collate_fn=") == 2 and "PadCollator(" in loader_cell
    assert any("LengthGroupedSampler(" in cell and "DataLoader(" in cell for cell in sources)


def test_06_loads_the_model_with_three_labels_in_view():
    """code 3-11: AutoModelForSequenceClassification.from_pretrained with num_labels=3, and no global silencing."""
    sources = [cell.source for cell in code_cells(notebook("06_"))]
    assert any("AutoModelForSequenceClassification.from_pretrained(" in cell and re.search(r"num_labels=3\b", cell)
               and "id2label=" in cell for cell in sources), sources
    assert not any("set_verbosity_error" in cell for cell in sources), "06 shows the load report it explains"


def test_07_builds_the_task_and_trainer_in_view_before_fitting():
    """code 3-12 to 3-14: NliTask, build_trainer and trainer.fit, each in its own cell with its arguments, in order."""
    sources = [cell.source for cell in code_cells(notebook("07_"))]

    def cell_with(needle):
        found = [i for i, cell in enumerate(sources) if needle in cell]
        assert len(found) == 1, f"{needle!r} must be in one code cell of 07, found in {len(found)}"
        return found[0]

    task = cell_with("task = NliTask(model, settings.learning_rate, settings.schedule)")
    trainer = cell_with("trainer = build_trainer(settings, runtime, precision, tokenizer)")
    fitted = cell_with("trainer.fit(task, train_loader, dev_loader, ckpt_path=")
    assert task < trainer < fitted
    assert "prepare_run(" not in "\n".join(sources), "07 builds the run in its cells; prepare_run is the command line's"


def test_07_cells_build_the_same_run_as_prepare_run(tmp_path, monkeypatch):
    """What 07's cells build before fitting is what the command line's prepare_run builds from the same settings:
    the same settings reach the trainer, the same model, the same batches, the same first-step loss."""
    import torch

    from nlpbook_helpers.pipeline import prepare_run

    monkeypatch.setenv("NLPBOOK_SMOKE", "1")
    monkeypatch.setenv("NLPBOOK_WORK_DIR", str(tmp_path / "work"))
    sources = [cell.source for cell in code_cells(notebook("07_"))]
    cells = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for source in sources[:next(i for i, cell in enumerate(sources) if ".fit(" in cell)]:
            exec(compile(source, "07_training", "exec"), cells)
    run = prepare_run(cells["settings"])

    ours, theirs = cells["trainer"], run.trainer
    for attribute in ("precision", "max_epochs", "max_steps", "log_every_n_steps"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert type(ours.accelerator) is type(theirs.accelerator)
    assert [type(callback) for callback in ours.callbacks] == [type(callback) for callback in theirs.callbacks]
    last = [next(callback for callback in trainer.callbacks if hasattr(callback, "every_n_steps")) for trainer in (ours, theirs)]
    assert (last[0].path, last[0].every_n_steps, last[0].run) == (last[1].path, last[1].every_n_steps, last[1].run)
    assert (cells["task"].learning_rate, cells["task"].schedule) == (run.task.learning_rate, run.task.schedule)

    # the same model: the new head drawn from the same seed, at the same point
    state, expected = cells["task"].model.state_dict(), run.task.model.state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[key], expected[key]) for key in state)

    def batches(loader):
        torch.manual_seed(0)  # the train loader shuffles with torch's generator
        return list(loader)

    for loader, expected_loader in ((cells["train_loader"], run.train_loader), (cells["dev_loader"], run.dev_loader)):
        got, want = batches(loader), batches(expected_loader)
        assert len(got) == len(want)
        assert all(a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) for a, b in zip(got, want))

    first = batches(run.train_loader)[0]
    losses = []
    for task in (cells["task"], run.task):
        torch.manual_seed(1)  # the same dropout masks
        losses.append(task.model(**first).loss.item())
    assert losses[0] == losses[1] > 0


def runtime_plan() -> dict[str, str]:
    """01's table: notebook number -> the runtime it runs on ("GPU" or "CPU")."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in markdown(notebook("01_")).splitlines() if line.startswith("|")]
    header = next(row for row in rows if "런타임" in row)
    column = header.index("런타임")
    plan = {}
    for row in rows:
        number = re.match(r"\**(\d\d) ", row[0])
        if number:
            plan[number.group(1)] = "GPU" if "GPU" in row[column] else "CPU"
    return plan


def test_each_notebook_asks_colab_for_the_runtime_01_names():
    """01's table plans the course: GPU only where training needs it, CPU elsewhere to save the learner's quota."""
    plan = runtime_plan()
    assert sorted(plan) == [path.name[:2] for path in NOTEBOOKS]
    assert [number for number, runtime in plan.items() if runtime == "GPU"] == ["07"]
    for path in NOTEBOOKS:
        accelerator = read(path).metadata.get("accelerator")
        assert accelerator == ("GPU" if plan[path.name[:2]] == "GPU" else None), (path.name, accelerator)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_prose_claims_no_output_only_the_smoke_run_shows(path):
    """The sample's pairs are not KLUE-NLI's: a lesson cannot point back to a pair "seen in 03"."""
    assert "03에서 본" not in markdown(read(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_lessons_hold_no_engineering_terms_and_no_word_on_smoke_mode(path):
    text = markdown(read(path))
    assert not ENGINEERING_TERMS.findall(text), ENGINEERING_TERMS.findall(text)
    talk = [line for line in text.splitlines() if SMOKE_TALK.search(line)]
    assert not talk, "the smoke mode is explained in docs/notebooks.md only"
