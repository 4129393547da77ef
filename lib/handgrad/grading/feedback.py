"""What the student gets back: each graded cell's verdict and message, never the hidden tests' code.

Every autograded cell's source is replaced by a one-line header and its outputs by the
verdict before anything is rendered or stored; a submission that did not run (missing,
corrupt, rejected) gets the summary alone.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from handgrad.grading import rebuild
from handgrad.grading.results import CellVerdict, Result, Status


def verdict_text(verdict: CellVerdict) -> str:
    """One graded cell's verdict as the student reads it."""
    mark = "PASSED" if verdict.status is Status.OK else "FAILED"
    text = f"{mark}  {verdict.score:g}/{verdict.max_score:g} points  ({verdict.label})"
    if verdict.status is not Status.OK:
        text += f"\n{verdict.message}"
    return text + "\n"


def sanitize(notebook: nbformat.NotebookNode, verdicts: list[CellVerdict]) -> nbformat.NotebookNode:
    """A copy of the executed notebook with every autograded cell reduced to its verdict."""
    by_id = {verdict.grade_id: verdict for verdict in verdicts}
    clean = copy.deepcopy(notebook)
    for cell in clean.cells:
        if not rebuild.is_autograded(cell):
            continue
        meta = rebuild.nbgrader_meta(cell)
        verdict = by_id[meta["grade_id"]]
        cell.source = f"# Hidden tests for '{meta['grade_id']}' ({verdict.max_score:g} points)"
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=verdict_text(verdict))]
    return clean


def summary_cell(result: Result) -> nbformat.NotebookNode:
    """The markdown cell on top of the feedback: score, one row per graded cell, notes, reason."""
    lines = [f"# Feedback: {result.assignment}", "",
             (f"**Autograded score: {result.score():g} / {result.autograded_max():g}** "
              "(written answers are graded by hand)."), "",
             "| cell | points | status |", "|---|---|---|"]
    lines += [f"| {c.grade_id} | {c.score:g}/{c.max_score:g} | {c.label} |" for c in result.cells]
    if result.notes:
        lines += ["", "**Notes from the grader:**"] + [f"- {note}" for note in result.notes]
    if result.reason:
        lines += ["", f"**{result.status.value}:** {result.reason}"]
    return nbformat.v4.new_markdown_cell("\n".join(lines))


def feedback_notebook(result: Result) -> nbformat.NotebookNode:
    """The feedback notebook: a summary on top, then the sanitized run (if there was one)."""
    body = nbformat.from_dict(copy.deepcopy(result.notebook)) if result.notebook else nbformat.v4.new_notebook()
    body.cells.insert(0, summary_cell(result))
    return body


def html(result: Result) -> str:
    """The feedback page of one result, as standalone HTML."""
    from nbconvert import HTMLExporter

    page, _ = HTMLExporter().from_notebook_node(feedback_notebook(result))
    return str(page)


def feedback_path(course: Path, result: Result) -> Path:
    """Where a result's feedback page goes: feedback/<student>/<id>/<id>.html."""
    return course / "feedback" / result.student / result.assignment / f"{result.assignment}.html"
