"""Run a source notebook's graded cells in-process, with some solution cells replaced.

Fast enough to prove a whole bug catalogue: no kernel, only the cells that matter (given
code, solutions, graded tests) executed in order in a fresh namespace.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import matplotlib
import nbformat

matplotlib.use("Agg")

COURSE = Path(__file__).resolve().parents[2]


def source_notebook(assignment: str) -> nbformat.NotebookNode:
    """The instructor notebook of an assignment."""
    return nbformat.read(str(COURSE / "source" / assignment / f"{assignment}.ipynb"), as_version=4)


def nbgrader_meta(cell: nbformat.NotebookNode) -> dict:
    """A cell's nbgrader metadata (empty for ordinary cells)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_points(assignment: str) -> dict[str, float]:
    """grade_id -> points of every autograded test cell."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
            for c in source_notebook(assignment).cells
            if c.cell_type == "code" and nbgrader_meta(c).get("grade")}


def run_graded(assignment: str, replacements: dict[str, str] | None = None) -> dict[str, str]:
    """grade_id -> "ok" or the failure message of each graded cell, after replacing solution cells by grade_id."""
    replacements = replacements or {}
    namespace: dict = {"__name__": "__main__"}
    results: dict[str, str] = {}
    old_env = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        for cell in source_notebook(assignment).cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type != "code" or not meta:
                continue
            source = replacements.get(meta["grade_id"], cell.source) if meta.get("solution") else cell.source
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, f"<{meta['grade_id']}>", "exec"), namespace)
                outcome = "ok"
            except Exception as error:  # a failing cell is exactly what we record
                outcome = f"{type(error).__name__}: {error}"
            if meta.get("grade"):
                results[meta["grade_id"]] = outcome
    finally:
        if old_env is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = old_env
    return results


def lost_points(assignment: str, replacements: dict[str, str]) -> dict[str, float]:
    """grade_id -> points lost by a submission made of these replacements (only cells that lose any)."""
    points = graded_points(assignment)
    return {gid: points[gid] for gid, outcome in run_graded(assignment, replacements).items() if outcome != "ok"}


_SOLUTION_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.S | re.M)


def release_source(source: str) -> str:
    """A solution cell as nbgrader releases it: each solution block becomes the stub, at its indentation."""
    return _SOLUTION_BLOCK.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()\n",
                               source)
