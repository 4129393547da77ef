"""A notebook's bug catalogue as data: realistic wrong answers and the graded cells each must lose,
and differently written correct answers that must keep full marks.

One file per notebook, ``tests/notebooks/catalogues/<assignment>.py``, defines ``CATALOGUE``;
``tests/notebooks/test_catalogues.py`` runs every catalogue with one parametrised runner and
``tools/make_samples.py`` builds the ``buggy`` sample from ``Catalogue.buggy_sample``.

An edit is ``(grade_id, old, new)``: in the reference solution cell ``grade_id`` the text ``old``
(which must occur there) becomes ``new``; ``old=None`` replaces the whole cell by ``new``.
Edits of one entry apply in order, so several may touch the same cell.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from tests.notebooks import harness

Edit = tuple[str, "str | None", str]
CATALOGUES = Path(__file__).resolve().parent / "catalogues"


@dataclass(frozen=True)
class Bug:
    """A realistic mistake: the edits that make it, and exactly the graded cells it must lose."""

    name: str
    edits: tuple[Edit, ...]
    loses: frozenset[str]
    says: str = ""          # words the failure message of the first lost cell must contain (optional)

    def __init__(self, name: str, edits: list[Edit] | tuple[Edit, ...], loses: set[str] | frozenset[str],
                 says: str = "") -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "edits", tuple(edits))
        object.__setattr__(self, "loses", frozenset(loses))
        object.__setattr__(self, "says", says)


@dataclass(frozen=True)
class Alternative:
    """A correct answer written differently from the reference: it must keep full marks."""

    name: str
    edits: tuple[Edit, ...]

    def __init__(self, name: str, edits: list[Edit] | tuple[Edit, ...]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "edits", tuple(edits))


@dataclass(frozen=True)
class Catalogue:
    """Everything the runner proves about one notebook."""

    assignment: str
    bugs: list[Bug]
    alternatives: list[Alternative]
    buggy_sample: tuple[str, ...]              # names of bugs combined into submitted/buggy
    # Graded cells exempt from the stub test: answers that are not functions (multiple choice), whose blank
    # cell raises by itself, so the graded cell fails by a NameError rather than a "not implemented" check.
    no_stub_loss: frozenset[str] = field(default_factory=frozenset)

    def bug(self, name: str) -> Bug:
        """The bug of that name."""
        for bug in self.bugs:
            if bug.name == name:
                return bug
        raise KeyError(f"{self.assignment}: no bug named {name!r} in the catalogue")

    def buggy_cells(self) -> dict[str, str]:
        """The solution cells of the buggy sample: the reference with every listed bug applied."""
        return apply(self.assignment, [e for name in self.buggy_sample for e in self.bug(name).edits])


def in_cell(grade_id: str) -> Callable[[str, str], Edit]:
    """An edit maker for one solution cell: ``linear = in_cell("linear")``, then ``linear(old, new)``."""
    def edit(old: str, new: str) -> Edit:
        return (grade_id, old, new)
    return edit


def solutions(assignment: str) -> dict[str, str]:
    """grade_id -> source of every reference solution cell."""
    return {harness.nbgrader_meta(c)["grade_id"]: c.source for c in harness.source_notebook(assignment).cells
            if c.cell_type == "code" and harness.nbgrader_meta(c).get("solution")}


def apply(assignment: str, edits: list[Edit] | tuple[Edit, ...]) -> dict[str, str]:
    """The changed solution cells after applying ``edits`` to the reference, in order."""
    reference = solutions(assignment)
    cells: dict[str, str] = {}
    for grade_id, old, new in edits:
        if grade_id not in reference:
            raise KeyError(f"{assignment}: no solution cell {grade_id!r}; update the catalogue")
        source = cells.get(grade_id, reference[grade_id])
        if old is None:
            cells[grade_id] = new
            continue
        if old not in source:
            raise ValueError(f"{assignment}: the cell {grade_id!r} no longer contains {old!r}; update the catalogue")
        cells[grade_id] = source.replace(old, new)
    return cells


def module(assignment: str) -> ModuleType:
    """The catalogue file of one assignment as a module (its helpers and reference lines too)."""
    path = CATALOGUES / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"catalogue_{assignment}", path)
    if spec is None or spec.loader is None or not path.exists():
        raise FileNotFoundError(f"no catalogue for {assignment}: write {path}")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def load(assignment: str) -> Catalogue:
    """The catalogue of one assignment (``tests/notebooks/catalogues/<assignment>.py``)."""
    path = CATALOGUES / f"{assignment}.py"
    catalogue: Catalogue = module(assignment).CATALOGUE
    if catalogue.assignment != assignment:
        raise ValueError(f"{path} describes {catalogue.assignment!r}, not {assignment!r}")
    return catalogue
