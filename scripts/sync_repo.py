"""Keep the GitHub OWNER/NAME of the course in one place: the file REPO at the repository root.

Every notebook names the repository twice: in its Colab badge and in the
bootstrap line `REPO = "OWNER/NAME"` of its first code cell (which installs
the package from GitHub in Colab). This script rewrites both from REPO, fills
the README's badge block (between `<!-- badges` and `<!-- /badges -->`) and
prints that block, so a fork or a rename is one edit and one command:

    python scripts/sync_repo.py          # rewrite what differs, print the badge block
    python scripts/sync_repo.py --check  # change nothing; exit 1 if anything differs

tests/test_notebooks.py fails when a notebook names another repository.
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
REPO_LINE = re.compile(r'^REPO = "[^"]*"', re.MULTILINE)
COLAB_URL = re.compile(r"(https://colab\.research\.google\.com/github/)[^/\s)]+/[^/\s)]+(/blob/)")
BADGE_BLOCK = re.compile(r"(<!-- badges[^\n]*-->\n).*?(<!-- /badges -->)", re.DOTALL)
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def read_repo(root: Path = ROOT) -> str:
    repo = (root / "REPO").read_text(encoding="utf-8").strip()
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        sys.exit(f"REPO must hold one line OWNER/NAME, got {repo!r}")
    return repo


def colab_url(repo: str, notebook: str) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{notebook}"


def sync_notebook(nb, repo: str) -> bool:
    """Rewrite the bootstrap line and the Colab links in place; True if anything changed."""
    changed = False
    for cell in nb.cells:
        source = cell.source
        if cell.cell_type == "code":
            source = REPO_LINE.sub(f'REPO = "{repo}"', source)
        source = COLAB_URL.sub(rf"\g<1>{repo}\g<2>", source)
        if source != cell.source:
            cell.source, changed = source, True
    return changed


def badge_block(repo: str, notebooks: list[Path]) -> str:
    rows = ["| 노트북 | Colab |", "|---|---|"]
    for path in notebooks:
        cells = nbformat.read(path, as_version=4).cells
        title = cells[0].source.splitlines()[0].lstrip("# ").strip() if cells else path.stem
        rows.append(f"| {title} | [![Open In Colab]({BADGE_IMAGE})]({colab_url(repo, path.name)}) |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file differs from REPO")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    repo = read_repo(args.root)
    notebooks = sorted((args.root / "notebooks").glob("*.ipynb"))
    stale = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        if sync_notebook(nb, repo):
            stale.append(path)
            if not args.check:
                nbformat.write(nb, path)

    block = badge_block(repo, notebooks)
    readme = args.root / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        synced = BADGE_BLOCK.sub(lambda m: m.group(1) + block + m.group(2), text)
        if synced != text:
            stale.append(readme)
            if not args.check:
                readme.write_text(synced, encoding="utf-8")

    for path in stale:
        print(f"{'differs from REPO' if args.check else 'rewrote'}: {path.relative_to(args.root)}", file=sys.stderr)
    if args.check:
        return 1 if stale else 0
    print(block, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
