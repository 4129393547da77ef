"""What the student gets back, and what nbgrader's gradebook keeps.

Feedback shows each graded cell's result and message, never the hidden tests' code:
every autograded cell's source is replaced by a one-line header and its outputs by the
verdict before anything is rendered or stored.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

from handgrad.grading import rebuild

if TYPE_CHECKING:  # only for type hints: round imports this module
    from handgrad.grading.round import Result


def verdict_text(cell: dict[str, Any]) -> str:
    """One graded cell's verdict as the student reads it."""
    mark = "PASSED" if cell["status"] == "ok" else "FAILED"
    text = f"{mark}  {cell['score']:g}/{cell['max_score']:g} points  ({cell['status']})"
    if cell["status"] != "ok":
        text += f"\n{cell['message']}"
    return text + "\n"


def sanitize(notebook: nbformat.NotebookNode, verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of the executed notebook with every autograded cell reduced to its verdict."""
    by_id = {v["grade_id"]: v for v in verdicts}
    clean = copy.deepcopy(notebook)
    for cell in clean.cells:
        if not rebuild.is_autograded(cell):
            continue
        meta = rebuild.nbgrader_meta(cell)
        verdict = by_id[meta["grade_id"]]
        cell.source = f"# Hidden tests for '{meta['grade_id']}' ({verdict['max_score']:g} points)"
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=verdict_text(verdict))]
    return clean


def _summary_cell(result: Result) -> nbformat.NotebookNode:
    score = sum(c["score"] for c in result.cells)
    auto_max = sum(c["max_score"] for c in result.cells if c["status"] != "manual")
    lines = [f"# Feedback: {result.assignment}", "",
             f"**Autograded score: {score:g} / {auto_max:g}** (written answers are graded by hand).", "",
             "| cell | points | status |", "|---|---|---|"]
    lines += [f"| {c['grade_id']} | {c['score']:g}/{c['max_score']:g} | {c['status']} |" for c in result.cells]
    if result.notes:
        lines += ["", "**Notes from the grader:**"] + [f"- {note}" for note in result.notes]
    if result.reason:
        lines += ["", f"**{result.status}:** {result.reason}"]
    return nbformat.v4.new_markdown_cell("\n".join(lines))


def feedback_notebook(result: Result) -> nbformat.NotebookNode:
    """The feedback notebook: a summary on top, then the sanitized run (if there was one)."""
    body = nbformat.from_dict(result.notebook) if result.notebook else nbformat.v4.new_notebook()
    body.cells.insert(0, _summary_cell(result))
    return body


def write_html(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Render a notebook to a standalone HTML page."""
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")


def record_in_gradebook(course: Path, results: list[Result]) -> None:
    """Autograded scores into nbgrader's gradebook (manual cells stay 'needs manual grade')."""
    from nbgrader.api import Gradebook

    # nbgrader's own session handling warns (SAWarning) on a first submission; the rows are written all the same.
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        warnings.simplefilter("ignore")
        for result in results:
            gradebook.update_or_create_student(result.student)
            gradebook.update_or_create_submission(result.assignment, result.student)
            for cell in result.cells:
                grade = gradebook.find_grade(cell["grade_id"], result.assignment, result.assignment,
                                             result.student)
                if cell["status"] == "manual":
                    grade.needs_manual_grade = True
                else:
                    grade.auto_score = cell["score"]
                    grade.needs_manual_grade = False
            gradebook.db.commit()


def store(course: Path, results: list[Result]) -> None:
    """Gradebook, autograded notebooks and feedback pages for every result."""
    record_in_gradebook(course, results)
    for result in results:
        notebook = feedback_notebook(result)
        if result.notebook is not None:
            autograded = course / "autograded" / result.student / result.assignment / f"{result.assignment}.ipynb"
            autograded.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nbformat.from_dict(result.notebook), str(autograded))
        write_html(notebook, course / "feedback" / result.student / result.assignment / f"{result.assignment}.html")
