"""The course notebooks: each runs alone on an empty work dir, keeps only checked outputs, names one repository.

nbval (`pytest --nbval-lax notebooks`, in scripts/test.sh) runs the notebooks in
order in one work dir and compares the `# NBVAL_CHECK_OUTPUT` cells. Here each
notebook runs by itself on an empty work dir, as a learner opens it on a fresh
Colab runtime, and its outputs are read for what a learner should never see.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"
COLAB_URL = re.compile(r"colab\.research\.google\.com/github/([^/\s)]+/[^/\s)]+)/blob/main/notebooks/([^\s)]+)")
SMOKE_LINE = "NLPBOOK_SMOKE=1: "  # what course_settings() prints in smoke mode
CANARY = "mode: smoke test"  # what 01_setup prints in smoke mode


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def output_text(output) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return str(output.get("data", {}).get("text/plain", ""))


def test_the_course_has_eight_numbered_notebooks():
    assert [path.name[:3] for path in NOTEBOOKS] == [f"{i:02d}_" for i in range(1, 9)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_alone_on_an_empty_work_dir(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    # The kernel inherits this environment. One torch thread: on 2 cores a kernel otherwise trains ~50x slower.
    monkeypatch.setenv("NLPBOOK_SMOKE", "1")
    monkeypatch.setenv("NLPBOOK_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    before = sorted(NOTEBOOK_DIR.rglob("*"))
    nb = read(path)
    # cwd is the notebooks folder, as under nbval and as relative paths would resolve in Jupyter
    NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()

    outputs = [output for cell in code_cells(nb) for output in cell.outputs]
    text = "\n".join(output_text(output) for output in outputs)
    stderr = "\n".join(output.text for output in outputs if output.output_type == "stream" and output.name == "stderr")
    assert not [output for output in outputs if output.output_type == "error"], text
    # the canary: smoke mode really reached the kernel (else CI would start hours of kcbert training)
    assert (CANARY if path.name.startswith("01_") else SMOKE_LINE) in text
    # matplotlib warns "Glyph ... missing from font(s)" when Hangul would show as empty boxes
    assert "missing from font" not in text
    assert not re.search(r"\w*Warning\b", stderr), stderr
    assert sorted(NOTEBOOK_DIR.rglob("*")) == before, "the notebook wrote files next to itself instead of the work dir"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_only_checked_cells_keep_outputs(path):
    nb = read(path)
    assert "widgets" not in nb.metadata
    for cell in code_cells(nb):
        if cell.source.startswith(CHECK):
            # nbval compares these with a fresh run; it needs the count to accept the stored outputs
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
