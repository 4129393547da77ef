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

from handgrad import state
from handgrad.checks import CheckFailed

matplotlib.use("Agg")


class SuiteCrashed(RuntimeError):
    """A graded cell raised something other than CheckFailed although every solution cell ran."""

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
    """grade_id -> "ok" or the failure message of each graded cell, after replacing solution cells by grade_id.

    A graded cell counts as lost only on a check's own ``CheckFailed`` (or after a solution cell
    raised); any other exception from a graded cell raises :class:`SuiteCrashed`.
    """
    replacements = replacements or {}
    namespace: dict = {"__name__": "__main__"}
    results: dict[str, str] = {}
    broken_solution = False   # once a solution cell raised, later cells may fail with NameError etc.
    old_env = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        for cell in source_notebook(assignment).cells:
            meta = nbgrader_meta(cell)
            if cell.cell_type != "code" or not meta:
                continue
            source = replacements.get(meta["grade_id"], cell.source) if meta.get("solution") else cell.source
            if meta.get("grade"):
                state.reset()   # as the grading guard does before each graded cell
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, f"<{meta['grade_id']}>", "exec"), namespace)
                outcome = "ok"
            except CheckFailed as error:  # a check's own verdict: exactly what we record
                outcome = f"{type(error).__name__}: {error}"
            except Exception as error:
                if meta.get("grade") and not broken_solution:
                    # The suite itself crashed on a well-formed submission: a grader bug, never a lost cell.
                    raise SuiteCrashed(f"graded cell {meta['grade_id']} crashed: {type(error).__name__}: {error}") \
                        from error
                outcome = f"{type(error).__name__}: {error}"
                broken_solution = broken_solution or bool(meta.get("solution"))
            if meta.get("grade"):
                results[meta["grade_id"]] = outcome
    finally:
        state.reset()   # what the submission did to the process does not leak into later tests
        if old_env is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = old_env
    return results


_SOLUTION_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?", re.S | re.M)


def release_source(source: str) -> str:
    """A solution cell as nbgrader releases it: each solution block becomes the stub, at its indentation."""
    return _SOLUTION_BLOCK.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()\n",
                               source)
