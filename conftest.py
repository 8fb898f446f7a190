"""The notebooks as nbval runs them (`pytest --nbval-lax notebooks`): each alone, on a fresh work dir, in smoke mode.

nbval runs a notebook's cells in one kernel, in order; a cell that raises
fails, and a `# NBVAL_CHECK_OUTPUT` cell must print what it stored. Around
that, for each notebook:
- a fresh work dir, set before its kernel starts (the kernel inherits the
  environment), as a learner opens it on a fresh Colab runtime; 08 starts
  from the best/ that 07 leaves, so the sample is trained first;
- the smoke canary: a notebook that calls course_settings() must print its
  smoke line, else a test run would start hours of kcbert-base training;
- what a learner should never see: a warning on stderr (06's load report,
  which 06 explains, aside), Hangul missing from the plot font, a file
  written next to the notebook instead of in the work dir.
The smoke mode itself is described in docs/notebooks.md.
"""

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent / "notebooks"
SMOKE_LINE = "NLPBOOK_SMOKE=1: "  # what course_settings() prints in smoke mode
# transformers 5 logs its load report as a logger warning on stderr: a title line, a Key | Status table, Notes.
LOAD_REPORT = re.compile(r"^.*LOAD REPORT.*\n(?:.*\|.*\n|-[-+]*\n|\n)*Notes:\n(?:- .*(?:\n|$))+", re.MULTILINE)
REPORT_ROW = re.compile(r"^(\S+)\s*\|\s*(\w+)\s*\|", re.MULTILINE)


def is_notebook_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell"  # nbval's item: one cell of a notebook


@pytest.hookimpl(tryfirst=True)  # before nbval's own setup starts the kernel
def pytest_runtest_setup(item):
    """Before a notebook's first cell (its kernel starts then): a fresh work dir in the kernel's environment."""
    notebook = item.parent
    if not is_notebook_cell(item) or hasattr(notebook, "nlpbook_work"):
        return
    notebook.nlpbook_work = Path(tempfile.mkdtemp(prefix=f"nlpbook-{Path(str(notebook.fspath)).stem}-"))
    notebook.nlpbook_outputs, notebook.nlpbook_files = [], sorted(NOTEBOOK_DIR.rglob("*"))
    # One torch thread: on 2 cores a kernel otherwise trains ~50x slower.
    os.environ.update(NLPBOOK_SMOKE="1", NLPBOOK_WORK_DIR=str(notebook.nlpbook_work), OMP_NUM_THREADS="1",
                      TOKENIZERS_PARALLELISM="false")
    if Path(str(notebook.fspath)).name.startswith("08_"):
        train_as_07_leaves_it()


def train_as_07_leaves_it():
    """08 reads the best/ that 07 leaves on Drive: a learner opening 08 has run 07."""
    from nlpbook_helpers.course import course_settings
    from nlpbook_helpers.pipeline import train

    train(course_settings())


def pytest_runtest_teardown(item, nextitem):
    """After a notebook's last cell: read everything it printed for what a learner should never see."""
    if not is_notebook_cell(item):
        return
    notebook = item.parent
    notebook.nlpbook_outputs.extend(item.test_outputs or [])
    if nextitem is not None and nextitem.parent is notebook:
        return
    shutil.rmtree(notebook.nlpbook_work, ignore_errors=True)
    outputs = notebook.nlpbook_outputs
    text = "\n".join(output.get("text", "") or str(output.get("data", {}).get("text/plain", "")) for output in outputs)
    stderr = "".join(output.text for output in outputs if output.output_type == "stream" and output.name == "stderr")
    name = Path(str(notebook.fspath)).name
    if any("course_settings(" in cell.source for cell in notebook.nb.cells):
        assert SMOKE_LINE in text, f"{name}: smoke mode did not reach the kernel"
    assert "missing from font" not in text, f"{name}: matplotlib has no font for Hangul"
    if name.startswith("06_"):
        stderr = without_the_load_report(stderr)
    assert not re.search(r"\w*Warning\b", stderr), f"{name} showed a warning:\n{stderr}"
    assert sorted(NOTEBOOK_DIR.rglob("*")) == notebook.nlpbook_files, f"{name} wrote files next to itself"


def without_the_load_report(stderr: str) -> str:
    """06 shows transformers' load report on purpose and explains it; take out exactly that report.

    It must be there, and may list only what fine-tuning expects: the new head
    missing (`classifier.*`) and unused pretraining weights (UNEXPECTED).
    """
    reports = LOAD_REPORT.findall(stderr)
    assert len(reports) == 1, f"06 must show the model's load report once:\n{stderr}"
    rows = [(key, status) for key, status in REPORT_ROW.findall(reports[0]) if key != "Key"]
    assert ("classifier.weight", "MISSING") in rows, reports[0]
    assert all(status == "UNEXPECTED" or (status == "MISSING" and key.startswith("classifier.")) for key, status in rows), reports[0]
    return stderr.replace(reports[0], "")
