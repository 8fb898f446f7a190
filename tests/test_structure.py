"""How the package is put together: the book in front and the wings behind, no module importing another that
imports it back, light commands that import no torch, and no declared version range admitting a bad release."""

import ast
from pathlib import Path

import pytest


PACKAGE = Path(__file__).resolve().parents[1] / "nlpbook_helpers"


def module_name(path: Path) -> str:
    """The module's dotted name inside the package: "settings", "run.checkpoints", "corpora" (its __init__)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports() -> dict[str, set[str]]:
    """{module: modules of ours it imports}, counting imports inside functions too."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = package[: len(package) - node.level + 1]
                targets = [node.module] if node.module else [alias.name for alias in node.names]
                imported |= {".".join([*base, *target.split(".")]) for target in targets}
        graph[name] = imported - {""}
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
    assert graph["settings"] <= {"support.errors", "corpora"}  # settings sits low, under everything that reads it


def test_the_front_holds_the_books_steps_and_the_wings_the_machinery():
    """At most 14 modules in front; the rest in the wings (run, corpora, sharing, support)."""
    front = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert len(front) <= 14, front
    assert {"settings", "runtime", "corpus", "features", "model", "task", "trainer", "inference"} <= set(front)
    wings = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert wings == {"run", "corpora", "sharing", "support"}, wings



LINE_CEILING = 3300  # issue 32: the whole package readable in an afternoon; templates live in data/ as what they are


def test_the_package_stays_under_its_line_ceiling():
    lines = {module_name(path): len(path.read_text(encoding="utf-8").splitlines()) for path in PACKAGE.rglob("*.py")}
    biggest = sorted(lines.items(), key=lambda item: -item[1])[:3]
    assert sum(lines.values()) <= LINE_CEILING, f"{sum(lines.values())} lines (the largest: {biggest})"

CORPUS_CODE = {"corpus", "corpora.kornli", "corpora"}


def test_no_module_outside_the_corpus_code_names_a_corpus():
    from nlpbook_helpers.corpora import CORPORA

    named = {}
    for path in PACKAGE.rglob("*.py"):
        if module_name(path) not in CORPUS_CODE:
            strings = {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                       if isinstance(node, ast.Constant) and isinstance(node.value, str)}
            named.update({module_name(path): sorted(strings & set(CORPORA))} if strings & set(CORPORA) else {})
    assert named == {}


def test_reading_a_corpus_does_not_import_torch():
    import subprocess
    import sys

    code = "import nlpbook_helpers.corpus, nlpbook_helpers.corpora, nlpbook_helpers.settings, sys; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


ROOT = PACKAGE.parent


def declared_requirements() -> dict[str, list[str]]:
    """{file: its requirement strings}: pyproject.toml's dependencies and extras, requirements-*.txt, tests/constraints."""
    try:
        import tomllib
    except ImportError:  # Python 3.10 (the lowest profile): pip's own copy of the same parser
        from pip._vendor import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {"pyproject.toml": project["dependencies"] + sum(project["optional-dependencies"].values(), [])}
    for path in [*ROOT.glob("requirements-*.txt"), *(ROOT / "tests" / "constraints").glob("*.txt")]:
        if path.name != "known-bad.txt":
            declared[str(path.relative_to(ROOT))] = requirement_lines(path)
    return declared


def requirement_lines(path: Path) -> list[str]:
    """A pip requirements or constraints file's requirements: comments, blank lines and options (-r, -c) left out."""
    lines = (line.split(" #")[0].split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def admits(declared: str, bad: str) -> bool:
    """True when some release satisfies both the declared requirement and the known-bad one (same project).

    Two version ranges overlap exactly when one range's edge lies in both (or just above an exclusive lower
    edge), so trying every version either one names, its next micro release and its .post0 is enough.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    ours, theirs = Requirement(declared), Requirement(bad)
    if canonicalize_name(ours.name) != canonicalize_name(theirs.name):
        return False
    candidates = set()
    for spec in [*ours.specifier, *theirs.specifier]:
        version = Version(spec.version.replace(".*", ""))
        major, minor, micro = (version.release + (0, 0))[:3]
        candidates |= {version, Version(f"{major}.{minor}.{micro + 1}"), Version(f"{version.base_version}.post0")}
    return any(ours.specifier.contains(v, prereleases=True) and theirs.specifier.contains(v, prereleases=True)
               for v in candidates)


def known_bad() -> list[tuple[str, str]]:
    """(requirement, reason) from tests/constraints/known-bad.txt; each line must say why."""
    entries = []
    for line in (ROOT / "tests" / "constraints" / "known-bad.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            requirement, _, reason = line.partition("#")
            assert reason.strip(), f"known-bad.txt: give the reason beside {requirement.strip()}"
            entries.append((requirement.strip(), reason.strip()))
    return entries


def test_the_overlap_check_finds_what_it_must():
    assert admits("pytorch-lightning>=2.5,<3", "pytorch-lightning==2.6.2")  # the range this list replaced
    assert admits("pytorch-lightning==2.5.0", "pytorch-lightning<2.6.6")
    assert admits("pytorch_lightning>2.6.5", "pytorch-lightning<2.6.6.post1")  # names are compared normalized
    assert not admits("pytorch-lightning>=2.6.6,<3", "pytorch-lightning<2.6.6")
    assert not admits("pytorch-lightning>=2.6.6", "torchmetrics<2")


def test_no_declared_range_admits_a_known_bad_release():
    bad = known_bad()
    assert any(name.startswith("pytorch-lightning==2.6.2") for name, _ in bad)
    found = [f"{file}: {requirement} admits {bad_one} ({reason})"
             for file, requirements in declared_requirements().items() for requirement in requirements
             for bad_one, reason in bad if admits(requirement, bad_one)]
    assert not found, "\n".join(found)
    assert any("pytorch-lightning" in r for r in declared_requirements()["requirements-gpu.txt"])  # the files were read


COMMAND_PROBE = """
import json, os, signal, sys, threading, time
from nlpbook_helpers.cli import main

def interrupt_once_serving():  # `serve` waits for Ctrl+C: send it once the page is up
    while not getattr(sys.modules.get("nlpbook_helpers.sharing.serve"), "_running", None):
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)  # a real signal: it wakes the wait, as Ctrl+C does

signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl+C as in a terminal, even under a parent that ignores it
threading.Thread(target=interrupt_once_serving, daemon=True).start()
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": [m for m in ("torch", "pytorch_lightning", "lightning_fabric") if m in sys.modules]}),
      flush=True)
os._exit(0)  # the answer is out; what this checks ends here, not in the interpreter's teardown, where `serve`
             # once aborted in CI after its clean stop ("terminate called without an active exception")
"""


def modules_a_command_loads(*argv) -> tuple[int, list[str]]:
    """Run the command line in a fresh process; (exit code, which of torch and Lightning it imported)."""
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", COMMAND_PROBE, *map(str, argv)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout, result.stderr[-3000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    return answer["code"], answer["loaded"]


@pytest.mark.parametrize("argv", [["--help"], ["push", "--help"], ["download", "--help"]])
def test_help_imports_no_torch(argv):
    assert modules_a_command_loads(*argv) == (0, [])


def test_download_imports_no_torch(http_server, tmp_path):
    from nlpbook_helpers.corpus import SAMPLE_DATA_DIR

    sample = (SAMPLE_DATA_DIR / "klue-nli-v1.1_dev.json").read_bytes()  # refused as "not KLUE-NLI": the whole path runs
    http_server.routes = {"/klue-nli-v1.1_train.json": [(200, sample)], "/klue-nli-v1.1_dev.json": [(200, sample)]}
    code, loaded = modules_a_command_loads("download", "--data-dir", tmp_path, "--base-url", http_server.url)
    assert code == 2 and http_server.hits and loaded == []


def test_predict_and_serve_import_no_lightning(tiny_bert):
    import socket

    assert modules_a_command_loads("predict", "--model-dir", tiny_bert, "전제", "가설") == (0, ["torch"])
    with socket.socket() as probe:  # a port nothing holds
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert modules_a_command_loads("serve", "--model-dir", tiny_bert, "--port", port) == (0, ["torch"])
