"""Every third-party module the project imports is declared in pyproject.toml, in its
dependencies or in an extra: a fresh environment installs only what is declared (issue 23)."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

# The project supports Python 3.10, whose standard library cannot read TOML yet.
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("rtbench", "tests", "benchmarks", "acceptance")
# Modules whose distribution may be missing here (an extra this environment did not install), so
# packages_distributions() cannot name it; checked against pyproject like the installed ones.
KNOWN = {
    "tensorrt": "tensorrt",
    "pynvml": "nvidia-ml-py",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
}
# Optional imports that no extra provides, each behind a try/except ImportError, and why.
GUARDED = {
    "triton": "benchmarks/timer_agreement.py compares with triton.testing.do_bench where the "
    "CUDA build of torch brings Triton along; without it, it says so and skips",
}


def normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """The distributions pyproject.toml names: dependencies and every extra, versions dropped."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    # The name ends where extras, a version, a marker or a URL begin (PEP 508).
    return {normalize(re.split(r"[\s\[<>=!~;@(]", r.strip(), maxsplit=1)[0]) for r in requirements}


def first_party() -> set[str]:
    """rtbench, the folders, and the modules that sit as files or packages in the folders
    (conftest, helpers such as synthetic or inject), importable because pytest or the script's
    own folder puts them on sys.path."""
    names = {"rtbench", *FOLDERS}
    for folder in FOLDERS[1:]:
        names |= {p.stem for p in (ROOT / folder).glob("*.py")}
        names |= {p.parent.name for p in (ROOT / folder).glob("*/__init__.py")}
    return names


def sources():
    """Each .py file of the folders, with its syntax tree."""
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"))


def imported(node: ast.AST) -> list[str]:
    """The top-level modules an absolute import statement names; none for anything else."""
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


def imports() -> dict[str, str]:
    """Each module imported anywhere in a file (functions and try blocks too), with the first
    file that imports it."""
    found: dict[str, str] = {}
    for path, tree in sources():
        for node in ast.walk(tree):
            for module in imported(node):
                found.setdefault(module, str(path))
    return found


def test_every_third_party_import_is_declared():
    providers = importlib.metadata.packages_distributions()
    ours, declared_names = first_party(), declared()
    offenders = []
    for module, path in sorted(imports().items()):
        if module in sys.stdlib_module_names or module in ours or module in GUARDED:
            continue
        dists = {normalize(d) for d in providers.get(module, [])}
        if module in KNOWN:
            dists.add(normalize(KNOWN[module]))
        if not dists:
            offenders.append(f"{module} ({path}) -> not installed here: add it to KNOWN")
        elif not dists & declared_names:
            offenders.append(f"{module} ({path}) -> not declared")
    assert not offenders, "imports no dependency or extra installs:\n" + "\n".join(offenders)


def test_the_guarded_imports_are_guarded():
    """An allowed import sits inside a try that catches ImportError: without the module, the
    file still runs."""
    catches = {"ImportError", "ModuleNotFoundError", "Exception"}
    unguarded = []
    for path, tree in sources():
        guarded = set()
        for node in ast.walk(tree):
            caught = {getattr(h.type, "id", None) for h in getattr(node, "handlers", [])}
            if isinstance(node, ast.Try) and caught & catches:
                guarded |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if set(imported(node)) & GUARDED.keys() and id(node) not in guarded:
                unguarded.append(f"{imported(node)[0]} ({path}:{node.lineno})")
    assert not unguarded, "allowed as guarded, imported unguarded: " + ", ".join(unguarded)
