"""The notebooks' first cell installs the course on a Colab GPU runtime without replacing what Colab ships.

`scripts/test.sh colab` builds NLPBOOK_COLAB_RUNTIME: Python 3.13 with Colab's
torch 2.11.0 and its other preinstalled versions (tests/constraints/colab-gpu.txt),
without this package. A throwaway environment that sees those packages, as a
venv sees its system site-packages, runs the first code cell of the notebooks
as it is, with the checkout in place of the GitHub repository and of the raw
requirements URL. pip clones the checkout, so it installs the last commit.
"""

import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RUNTIME = os.environ.get("NLPBOOK_COLAB_RUNTIME")
GITHUB_PACKAGE = 'f"git+https://github.com/{REPO}"'
GITHUB_RAW = "https://raw.githubusercontent.com/{REPO}/main/"

pytestmark = pytest.mark.skipif(not RUNTIME, reason="needs Colab's packages without ours: scripts/test.sh colab builds them")


def code_sources(path):
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def install_cell_from_checkout() -> str:
    """01's first code cell with the checkout in place of GitHub (each replaced exactly once)."""
    source = code_sources(NOTEBOOKS[0])[0]
    assert source.count(GITHUB_PACKAGE) == 1 and source.count(GITHUB_RAW) == 1, "the install cell changed: update this test"
    return source.replace(GITHUB_PACKAGE, repr(f"git+file://{ROOT}")).replace(GITHUB_RAW, f"{ROOT}/")


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

    run(python, install_cell_from_checkout(), tmp_path)

    after = dict(line.split("==") for line in run(python, VERSIONS, tmp_path).split())
    replaced = {name: (version, after[name]) for name, version in colab.items() if after[name] != version}
    assert not replaced, f"pip replaced Colab's packages: {replaced}"
    installed = {path.name.split("-")[0].lower() for path in own_site.glob("*.dist-info")}
    assert "nlpbook_helpers" in installed and not installed & {name.replace("-", "_") for name in colab}
    torch_file, torch_version = run(python, "import torch; print(torch.__file__); print(torch.__version__)", tmp_path).split()
    assert torch_file.startswith(colab_site) and torch_version.split("+")[0] == "2.11.0"
    run(python, "\n".join(f"import {module}" for module in notebook_imports()), tmp_path)
