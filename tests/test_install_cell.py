"""The notebooks' first cell installs the course on a Colab GPU runtime without replacing what Colab ships,
and when it cannot fetch the course, says so in one line: which URL, and what to check.

`scripts/test.sh colab` builds NLPBOOK_COLAB_RUNTIME: Python 3.13 with Colab's
torch 2.11.0 and its other preinstalled versions (tests/constraints/colab-gpu.txt),
without this package. A throwaway environment that sees those packages, as a
venv sees its system site-packages, runs the first code cell of the notebooks
as it is, with the checkout in place of the GitHub repository and of the raw
requirements URL. pip clones the checkout, so it installs the last commit.
The failures run the same cell against a repository that does not exist here
(a local path, and a local web server that answers 404), in IPython as a
notebook does, in every profile.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RUNTIME = os.environ.get("NLPBOOK_COLAB_RUNTIME")
GITHUB_PACKAGE = 'f"git+https://github.com/{REPO}"'
GITHUB_RAW = "https://raw.githubusercontent.com/{REPO}/main/"

needs_runtime = pytest.mark.skipif(not RUNTIME, reason="needs Colab's packages without ours: scripts/test.sh colab builds them")


def code_sources(path):
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def install_cell(package: str = f"git+file://{ROOT}", raw: str = f"file://{ROOT}/") -> str:
    """01's first code cell with `package` and `raw` in place of GitHub's (each replaced exactly once): the checkout."""
    source = code_sources(NOTEBOOKS[0])[0]
    assert source.count(GITHUB_PACKAGE) == 1 and source.count(GITHUB_RAW) == 1, "the install cell changed: update this test"
    return source.replace(GITHUB_PACKAGE, repr(package)).replace(GITHUB_RAW, raw)


COLAB_ITSELF = {"google.colab"}  # Colab's own module (02 mounts Drive, 08 shows the page): there only, never installed


def notebook_imports() -> list[str]:
    """Every module the notebooks import, found in their code cells, but Colab's own."""
    modules = set()
    for path in NOTEBOOKS:
        for source in code_sources(path):
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    modules.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules.add(node.module)
    return sorted(modules - COLAB_ITSELF)


def run(python, code, cwd):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# Colab's packages as a system site-packages: seen by the venv, left out of pip's build isolation (which puts its
# pip-build-env-* folder on PYTHONPATH), so Colab's setuptools 75.2.0 does not build the package (it needs >=77).
SYSTEM_SITE_PTH = "import os, site; 'pip-build-env-' in os.environ.get('PYTHONPATH', '') or site.addsitedir({!r})\n"

VERSIONS = "import importlib.metadata as m; print('\\n'.join(sorted(f\"{d.metadata['Name'].lower()}=={d.version}\" for d in m.distributions())))"


@needs_runtime
def test_install_cell_keeps_colabs_packages_and_the_notebooks_import(tmp_path):
    runtime_python = Path(RUNTIME) / "bin" / "python"
    colab = dict(line.split("==") for line in run(runtime_python, VERSIONS, tmp_path).split())
    assert "nlpbook-helpers" not in colab, "the runtime must not have the course package yet"
    assert colab["torch"].split("+")[0] == "2.11.0"

    venv = tmp_path / "learner"
    subprocess.run([str(runtime_python), "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own_site = Path(run(python, "import sysconfig; print(sysconfig.get_path('purelib'))", tmp_path).strip())
    colab_site = run(runtime_python, "import sysconfig; print(sysconfig.get_path('purelib'))", tmp_path).strip()
    (own_site / "_colab.pth").write_text(SYSTEM_SITE_PTH.format(colab_site))

    run(python, install_cell(), tmp_path)

    after = dict(line.split("==") for line in run(python, VERSIONS, tmp_path).split())
    replaced = {name: (version, after[name]) for name, version in colab.items() if after[name] != version}
    assert not replaced, f"pip replaced Colab's packages: {replaced}"
    installed = {path.name.split("-")[0].lower() for path in own_site.glob("*.dist-info")}
    assert "nlpbook_helpers" in installed and not installed & {name.replace("-", "_") for name in colab}
    torch_file, torch_version = run(python, "import torch; print(torch.__file__); print(torch.__version__)", tmp_path).split()
    assert torch_file.startswith(colab_site) and torch_version.split("+")[0] == "2.11.0"
    run(python, "\n".join(f"import {module}" for module in notebook_imports()), tmp_path)


IN_IPYTHON = """
import sys
from IPython.core.interactiveshell import InteractiveShell
InteractiveShell.instance().run_cell(sys.stdin.read())
"""


def failed_install(cell: str, cwd) -> list[str]:
    """Run the cell as if the package were missing, in IPython as a notebook runs it; the lines it shows."""
    cell = cell.replace('importlib.util.find_spec("nlpbook_helpers") is None', "True")  # ours is installed here
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", IN_IPYTHON], input=cell, cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def test_a_repository_that_does_not_exist_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "no-such-owner" / "no-such-repo"
    shown = failed_install(install_cell(package=f"git+file://{missing}"), tmp_path)
    assert len(shown) == 1, shown
    line = shown[0]
    assert "Traceback" not in line and "CalledProcessError" not in line
    assert f"file://{missing} 을(를) 받지 못했습니다" in line and f"Could not fetch file://{missing}" in line
    assert 'REPO = "' in line and "online" in line and "인터넷" in line


def test_requirements_that_cannot_be_fetched_are_one_line_naming_the_url(tmp_path, http_server):
    raw = f"{http_server.url}/no-such-owner/no-such-repo/main/"  # the web server answers 404, as GitHub does
    shown = failed_install(install_cell(raw=raw), tmp_path)
    assert len(shown) == 1, shown
    assert f"Could not fetch {raw}requirements-gpu.txt (HTTP Error 404: Not Found)" in shown[0]
    assert http_server.hits == ["/no-such-owner/no-such-repo/main/requirements-gpu.txt"]
