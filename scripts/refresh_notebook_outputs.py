"""Re-execute the notebooks in smoke mode and store only the outputs the tests compare.

The notebooks are committed without outputs, except the cells whose first line
is `# NBVAL_CHECK_OUTPUT`: nbval compares those with a fresh run in CI
(`pytest --nbval-lax notebooks`, from scripts/test.sh). Their stored
outputs must come from a real execution, so when something they show changes
on purpose (the bundled sample, hence the tiny tokenizer's ids; a message's
wording), run this and commit the result:

    python scripts/refresh_notebook_outputs.py [notebooks/05_loaders.ipynb ...]

It runs the notebooks in order in one temporary work dir
(NLPBOOK_SMOKE=1, OMP_NUM_THREADS=1), and writes each back with every other
output, every other execution count and all cell metadata removed. 08 reads
the best/ that 07 leaves; when 07 is not among the notebooks refreshed, the
sample is trained first, as a learner opening 08 has run 07. Checked
cells keep their execution count: nbval refuses a cell that has outputs but
no count ("Unrun reference cell has outputs").
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHECK = "# NBVAL_CHECK_OUTPUT"


def keep_checked_outputs(nb):
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata = {}
        if cell.cell_type != "code":
            continue
        if not cell.source.startswith(CHECK):
            cell.execution_count = None
            cell.outputs = []
    return nb


def train_as_07_leaves_it() -> None:
    from nlpbook_helpers.course import course_settings
    from nlpbook_helpers.pipeline import train

    train(course_settings())


def main(paths: list[str]) -> int:
    notebooks = [Path(p).resolve() for p in paths] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="nlpbook-work-") as work_dir:
        os.environ.update(NLPBOOK_SMOKE="1", NLPBOOK_WORK_DIR=work_dir, OMP_NUM_THREADS="1",
                          TOKENIZERS_PARALLELISM="false")
        for path in notebooks:
            if path.name.startswith("08_") and not list(Path(work_dir).glob("runs/*/best/config.json")):
                train_as_07_leaves_it()
            start = time.perf_counter()
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            nbformat.write(keep_checked_outputs(nb), path)
            print(f"{path.name}: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
