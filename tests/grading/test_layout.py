"""The grading package stays readable: short modules, imports that point one way (no cycle)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import handgrad.grading

PACKAGE = Path(handgrad.grading.__file__).parent
MODULES = {path.stem: path for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__init__"}


def grading_imports(path: Path) -> set[str]:
    """The modules of handgrad.grading that one module imports (at any depth of its code)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "handgrad.grading":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("handgrad.grading."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("handgrad.grading.")}
    return found & set(MODULES)


def test_no_import_cycle() -> None:
    graph = {name: grading_imports(path) for name, path in MODULES.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle in handgrad.grading: {error.args[1]}") from None
    assert graph["results"] == set() and order.index("results") < order.index("round")


def test_modules_are_short() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 200}
    assert long == {}
