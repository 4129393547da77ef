"""Build nbgrader cells in code: used to author or rewrite a source notebook by script.

``python tools/nbcells.py`` is not a command; notebooks' authoring scripts import it:
    from nbcells import md, given, solution, tests, free, write
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

_SCHEMA = 3


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None,
          task: bool = False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": _SCHEMA,
            "solution": solution, "task": task}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def md(text: str) -> nbformat.NotebookNode:
    """A plain markdown cell (students may edit it; nothing is graded)."""
    return new_markdown_cell(text.strip("\n"))


def given(grade_id: str, source: str) -> nbformat.NotebookNode:
    """A read-only code cell the course provides (imports, base classes)."""
    return new_code_cell(source.strip("\n"), metadata=_meta(grade_id, grade=False, solution=False, locked=True))


def free(source: str) -> nbformat.NotebookNode:
    """An ordinary code cell: visible checks, experiments, plots."""
    return new_code_cell(source.strip("\n"))


def solution(grade_id: str, source: str) -> nbformat.NotebookNode:
    """A cell the student fills in (``### BEGIN SOLUTION`` blocks are removed on release)."""
    return new_code_cell(source.strip("\n"), metadata=_meta(grade_id, grade=False, solution=True, locked=False))


def tests(grade_id: str, points: int, source: str) -> nbformat.NotebookNode:
    """A graded, read-only test cell (``### BEGIN HIDDEN TESTS`` blocks are removed on release)."""
    return new_code_cell(source.strip("\n"), metadata=_meta(grade_id, grade=True, solution=False, locked=True,
                                                           points=points))


def written(grade_id: str, points: int, text: str) -> nbformat.NotebookNode:
    """A manually graded markdown answer cell."""
    return new_markdown_cell(text.strip("\n"), metadata=_meta(grade_id, grade=True, solution=True, locked=False,
                                                              points=points))


def write(path: str | Path, cells: list) -> None:
    """Write a clean (output-free) notebook with the course's Python kernel."""
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(notebook)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
