"""What the student gets back: each graded cell's verdict and message, never the hidden tests' code.

Every autograded cell's source is replaced by a one-line header and its outputs by the
verdict before anything is rendered or stored; a submission that did not run (missing,
corrupt, rejected) gets the summary alone.
"""

from __future__ import annotations

import copy
import functools
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


# What a page may keep of the HTML in markdown cells and outputs (students write answers, notes quote their
# metadata, their code prints HTML): nbconvert's list plus the tags of ordinary markdown. Anything else
# (scripts, event handlers, forms, frames) is shown escaped, as text.
PAGE_TAGS = frozenset({"a", "abbr", "acronym", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3",
                       "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup",
                       "table", "tbody", "td", "th", "thead", "tr", "ul"})
PAGE_ATTRIBUTES = {"*": ["class", "id"], "a": ["href", "title"], "abbr": ["title"], "acronym": ["title"],
                   "img": ["src", "alt", "title", "width", "height"], "th": ["style"], "td": ["style"]}


@functools.lru_cache(maxsize=4096)
def _clean_html(text: str) -> str:
    """A page's HTML with only :data:`PAGE_TAGS` left as markup; remembered, as most cells of a page are the
    instructor's, the same for every student (sanitizing them was a third of a page's time)."""
    import bleach
    from bleach.css_sanitizer import CSSSanitizer

    return str(bleach.clean(text, tags=PAGE_TAGS, attributes=PAGE_ATTRIBUTES,
                            css_sanitizer=CSSSanitizer(allowed_css_properties=["text-align"])))


def html(result: Result) -> str:
    """The feedback page of one result, as standalone HTML, its markdown and outputs sanitized."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(sanitize_html=True, filters={"clean_html": _clean_html})
    page, _ = exporter.from_notebook_node(feedback_notebook(result))
    return str(page)


def feedback_path(course: Path, result: Result) -> Path:
    """Where a result's feedback page goes: feedback/<student>/<id>/<id>.html."""
    return course / "feedback" / result.student / result.assignment / f"{result.assignment}.html"
