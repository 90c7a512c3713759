"""pyproject.toml declares no package that the code never uses (issue: an unused pin drags in its own
dependencies, e.g. shap pulled numba and llvmlite)."""

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Declared packages that reprolab's code does not import itself, each with the import that needs it.
LOADED_BY_ANOTHER_PACKAGE = {
    "box2d": "gymnasium's LunarLander-v3 (mbec's paper scale) imports Box2D",
    "pygame": "gymnasium's Box2D environments import pygame",
    "opencv-python-headless": "gymnasium's AtariPreprocessing (mbec's Atari runs) imports cv2",
    "transformers": "sentence-transformers (invalidator's encoder) imports it; pinned to a version it supports",
    "pm4py": "the user's own pm4py.read_xes gives the DataFrame dcw_mann reads (extra 'xes', not in 'all')",
    "pytest": "the test runner (extra 'dev')",
    "pytest-xdist": "runs `make test` in one process per core (extra 'dev')",
    "ruff": "the linter `make test` runs (extra 'dev')",
    "mkdocs": "`make docs` (extra 'docs')",
    "mkdocs-material": "the theme of `make docs` (extra 'docs')",
    "mkdocstrings": "the API reference of `make docs` (extra 'docs')",
    "mkdocstrings-python": "the API reference of `make docs` (extra 'docs')",
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = list(project["dependencies"])
    for group in project["optional-dependencies"].values():
        pins += [p for p in group if not p.startswith("reprolab[")]
    return {_canonical(re.split(r"[=<>!~\[; ]", pin, maxsplit=1)[0]) for pin in pins}


def imported_distributions() -> set[str]:
    modules = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    owners = importlib.metadata.packages_distributions()
    return {_canonical(dist) for module in modules for dist in owners.get(module, [])}


def test_every_declared_dependency_is_imported_or_named_with_its_user():
    unused = declared_distributions() - imported_distributions() - set(LOADED_BY_ANOTHER_PACKAGE)
    assert not unused, f"declared in pyproject.toml but never imported by src/: {sorted(unused)}"


def test_every_imported_third_party_package_is_declared():
    undeclared = imported_distributions() - declared_distributions() - {"reprolab"}
    assert not undeclared, f"imported by src/ but not declared in pyproject.toml: {sorted(undeclared)}"


def test_the_allowance_names_only_declared_packages():
    assert set(LOADED_BY_ANOTHER_PACKAGE) <= declared_distributions()
