"""Instructor notebook + the student's solution cells -> the notebook that is run.

Keyed by ``grade_id``: only the instructor's solution cells take the student's source;
test cells, their metadata and points, and every other cell always come from the
instructor. What the student changed besides (deleted, duplicated, retyped or re-flagged
cells, code outside solution cells, pre-filled outputs, another kernel) is noted, never fatal.
The student's notebook arrives read and normalised (:mod:`handgrad.grading.submission`), so
an error raised here is a bug of the grader, which stops the round.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat

from handgrad.grading import scan

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

# Run first in every autograded cell: reload the check helpers and suites from the read-only lib,
# so helpers a student replaced in an earlier cell are the course's own again when tests run.
# Then put back the global state the oracles rely on (handgrad.state.reset: autograd on, default dtype,
# numpy settings, builtins). Only _hg_ names: a student's `list = ...` or `sorted = ...` must not break it.
GUARD = ("import importlib as _hg_importlib, sys as _hg_sys, builtins as _hg_builtins  # handgrad: fresh helpers\n"
         "for _hg_name in _hg_builtins.sorted(n for n in _hg_builtins.list(_hg_sys.modules)"
         " if n.startswith('handgrad.') and not n.startswith('handgrad.grading')):\n"
         "    _hg_importlib.reload(_hg_sys.modules[_hg_name])\n"
         "_hg_importlib.import_module('handgrad.state').reset()\n")


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    """A cell's nbgrader metadata (empty for ordinary cells and for malformed metadata)."""
    metadata = cell.get("metadata", {})
    meta = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else {}
    if not isinstance(meta, dict) or not isinstance(meta.get("grade_id", ""), str):
        return {}
    return meta


def graded_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The instructor's graded cells, in order (autograded tests and manually graded answers)."""
    return [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade")]


def last_graded_index(notebook: nbformat.NotebookNode) -> int:
    """The index of the notebook's last graded cell (test or written answer), -1 without one: no grade
    depends on a cell after it, so grading runs nothing past it."""
    return max((i for i, cell in enumerate(notebook.cells) if nbgrader_meta(cell).get("grade")), default=-1)


def is_autograded(cell: nbformat.NotebookNode) -> bool:
    """A graded code cell that is not a solution: its points are decided by running it."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


@dataclass
class Rebuilt:
    """The notebook to run, plus what was noticed on the way."""

    notebook: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)
    from_student: set[str] = field(default_factory=set)   # solution grade_ids taken from the student
    delegated: dict[str, set[str]] = field(default_factory=dict)  # solution grade_id -> names that delegate
    review: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # solution grade_id -> (line, reason)


def rebuild(instructor: nbformat.NotebookNode, student: nbformat.NotebookNode) -> Rebuilt:
    """Merge the student's solution cells into a copy of the instructor's notebook."""
    notes: list[str] = []
    metadata = student.get("metadata")
    kernelspec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    kernel = kernelspec.get("name") if isinstance(kernelspec, dict) else None
    if kernel not in (None, "python3"):
        notes.append(f"kernelspec '{kernel}' ignored: the course kernel (python3) runs every notebook")

    by_id: dict[str, list[nbformat.NotebookNode]] = {}
    for cell in student.cells:
        student_id = nbgrader_meta(cell).get("grade_id")
        if isinstance(student_id, str):
            by_id.setdefault(student_id, []).append(cell)

    rebuilt = copy.deepcopy(instructor)
    taken: set[str] = set()
    delegated: dict[str, set[str]] = {}
    review: dict[str, list[tuple[int, str]]] = {}
    for index, cell in enumerate(rebuilt.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        meta = nbgrader_meta(cell)
        grade_id: str = meta.get("grade_id", "")
        if is_autograded(cell):
            cell.source = GUARD + cell.source
        if not meta.get("solution"):
            continue
        candidates = by_id.get(grade_id, [])
        if not candidates:
            notes.append(f"solution cell '{grade_id}' was deleted: graded as left blank")
            if cell.cell_type == "code":
                cell.source = STUB
            else:
                cell.source = "YOUR ANSWER HERE"
            continue
        if len(candidates) > 1:
            notes.append(f"solution cell '{grade_id}' appears {len(candidates)} times: the first one is used")
        chosen = candidates[0]
        if chosen.cell_type != cell.cell_type:
            notes.append(f"solution cell '{grade_id}' was turned into a {chosen.cell_type} cell: its text is "
                         f"used as {cell.cell_type}")
        if chosen.get("outputs"):
            notes.append(f"outputs saved in '{grade_id}' were ignored (everything is re-run)")
        cell.source = chosen.get("source", "")
        taken.add(grade_id)
        if cell.cell_type != "code":
            continue
        # A numpy exercise (the instructor's solution uses none of these) must not delegate its work.
        names = scan.delegating_names(cell.source) - scan.delegating_names(instructor.cells[index].source)
        if names:
            delegated[grade_id] = names
            # Only a note: what decides is what the code calls while the hidden tests run (handgrad.integrity).
            notes.append(f"solution cell '{grade_id}' mentions {', '.join(sorted(names))}: if a numpy exercise calls "
                         f"it while the hidden tests run, those tests score 0 (delegated)")
        allowed = {why for _, why in scan.review_findings(instructor.cells[index].source)}
        findings = [(line, why) for line, why in scan.review_findings(cell.source) if why not in allowed]
        if findings:
            review[grade_id] = findings

    instructor_ids = {str(nbgrader_meta(c)["grade_id"]) for c in instructor.cells if "grade_id" in nbgrader_meta(c)}
    instructor_sources = {c.source for c in instructor.cells if c.cell_type == "code"}
    for grade_id in by_id:
        if grade_id not in instructor_ids:
            notes.append(f"cell '{grade_id}' is not part of the assignment: ignored")
    for restored in sorted(instructor_ids - set(by_id)):
        instructor_cell = next(c for c in instructor.cells if nbgrader_meta(c).get("grade_id") == restored)
        if not nbgrader_meta(instructor_cell).get("solution"):
            notes.append(f"read-only cell '{restored}' was missing: restored from the assignment")
    for cell in student.cells:
        meta = nbgrader_meta(cell)
        flipped = meta.get("grade_id") in instructor_ids and meta.get("solution") and not any(
            nbgrader_meta(c).get("solution") for c in instructor.cells
            if nbgrader_meta(c).get("grade_id") == meta.get("grade_id"))
        if flipped:
            notes.append(f"cell '{meta['grade_id']}' was marked as a solution: the assignment's version is used")
    extra = [c for c in student.cells if c.cell_type == "code" and not nbgrader_meta(c).get("grade_id")
             and str(c.get("source", "")).strip() and c.get("source") not in instructor_sources]
    if extra:
        notes.append(f"{len(extra)} code cell(s) outside the solution cells were not run: only solution cells count")
    return Rebuilt(rebuilt, notes=notes, from_student=taken, delegated=delegated, review=review)


def tests_after(notebook: nbformat.NotebookNode, solution_id: str) -> list[str]:
    """grade_ids of the autograded cells between a solution cell and the next solution cell."""
    found, inside = [], False
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            inside = meta.get("grade_id") == solution_id
        elif inside and is_autograded(cell):
            found.append(meta["grade_id"])
    return found
