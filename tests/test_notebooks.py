"""Every notebook: clean source, sane nbgrader metadata, hidden tests that go through the checks,
release/ in sync with source/ and with the stubs the catalogue runner grades, and a whole notebook
that runs without an error under grading in the sandboxed round."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from handgrad.grading.rebuild import last_graded_index
from tests.notebooks.harness import nbgrader_meta, release_source, source_notebook

COURSE = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if (p / f"{p.name}.ipynb").exists())


def release_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(str(COURSE / "release" / assignment / f"{assignment}.ipynb"), as_version=4)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_is_committed_without_outputs(assignment: str) -> None:
    for cell in source_notebook(assignment).cells:
        assert not cell.get("outputs") and not cell.get("execution_count"), cell.source[:80]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_grade_ids_unique_and_points_positive_integers(assignment: str) -> None:
    ids = [nbgrader_meta(c)["grade_id"] for c in source_notebook(assignment).cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_id in {assignment}"
    for cell in source_notebook(assignment).cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            assert float(meta["points"]) == int(meta["points"]) > 0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_autograded_cell_holds_hidden_tests_and_every_solution_a_solution(assignment: str) -> None:
    for cell in source_notebook(assignment).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            assert "### BEGIN HIDDEN TESTS" in cell.source and "### END HIDDEN TESTS" in cell.source, meta
            assert meta.get("locked"), f"graded cell {meta['grade_id']} must be read-only"
        if cell.cell_type == "code" and meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source, meta["grade_id"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solution_code_and_no_hidden_tests(assignment: str) -> None:
    text = (COURSE / "release" / assignment / f"{assignment}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "handgrad.suites"):
        assert marker not in text, marker
    solutions = [c for c in release_notebook(assignment).cells
                 if nbgrader_meta(c).get("solution") and c.cell_type == "code"]
    assert solutions and all("raise NotImplementedError()" in c.source for c in solutions)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_cells_call_the_checks_never_a_bare_assert(assignment: str) -> None:
    """Hidden tests go through handgrad's check helpers (recorded, judged outside the kernel)."""
    for cell in source_notebook(assignment).cells:
        if nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
            assert "handgrad.suites" in cell.source or "checks." in cell.source, nbgrader_meta(cell)["grade_id"]
            assert not re.search(r"^\s*assert\b", cell.source, re.M), nbgrader_meta(cell)["grade_id"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stubs_are_the_ones_the_catalogue_runner_grades(assignment: str) -> None:
    """nbgrader's stubs in release/ are exactly harness.release_source of the solutions, so the runner's
    stub test speaks for the real release."""
    released = {nbgrader_meta(c)["grade_id"]: c.source for c in release_notebook(assignment).cells
                if nbgrader_meta(c).get("solution") and c.cell_type == "code"}
    built = {nbgrader_meta(c)["grade_id"]: release_source(c.source).rstrip("\n")
             for c in source_notebook(assignment).cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"}
    assert {gid: source.rstrip("\n") for gid, source in released.items()} == built


def _normalised(notebook: nbformat.NotebookNode) -> list[tuple]:
    return [(c.cell_type, c.source, nbgrader_meta(c)) for c in notebook.cells]


def test_release_equals_what_nbgrader_generates_now(graded_samples: tuple[Path, str]) -> None:
    """The grading round rebuilt release/ from source/ with nbgrader: the same cells and metadata as committed."""
    course, _ = graded_samples
    for assignment in ASSIGNMENTS:
        fresh = nbformat.read(str(course / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
        assert _normalised(fresh) == _normalised(release_notebook(assignment)), \
            f"release/{assignment} is stale: run `make release`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_runs_in_a_real_kernel_under_grading(assignment: str,
                                                             graded_samples: tuple[Path, str]) -> None:
    """The reference sample is the source notebook: in the sandboxed round every cell up to the last graded one
    ran without an error (reported by cell, not stopped at the first), and none after it ran: the closing
    experiment decides no grade (the browser suite and the hand-out test run it)."""
    course, _ = graded_samples
    executed = nbformat.read(str(course / "autograded" / "reference" / assignment / f"{assignment}.ipynb"), 4)
    last = last_graded_index(executed)
    code_cells = [(i, c) for i, c in enumerate(executed.cells) if c.cell_type == "code"]
    ran = [c for i, c in code_cells if i <= last]
    after = [c for i, c in code_cells if i > last]
    assert ran and all(c.get("execution_count") for c in ran), "not every code cell up to the last graded one ran"
    assert after and not any(c.get("execution_count") or c.get("outputs") for c in after), "the experiment ran"
    errors = [nbgrader_meta(c).get("grade_id") or c.source[:60] for c in ran
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert errors == []
