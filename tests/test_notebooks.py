"""Every notebook: clean source, sane nbgrader metadata, release/ in sync with source/,
solutions pass in a real kernel, release stubs fail every graded cell."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.harness import graded_points, nbgrader_meta, run_graded, source_notebook

COURSE = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if (p / f"{p.name}.ipynb").exists())


def release_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(str(COURSE / "release" / assignment / f"{assignment}.ipynb"), as_version=4)


def test_the_course_has_notebooks() -> None:
    assert "02_activations" in ASSIGNMENTS


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
def test_release_stubs_fail_every_graded_cell(assignment: str) -> None:
    stubs = {nbgrader_meta(c)["grade_id"]: c.source for c in release_notebook(assignment).cells
             if nbgrader_meta(c).get("solution") and c.cell_type == "code"}
    outcome = run_graded(assignment, stubs)
    mc_only = {gid for gid in outcome if gid.startswith("test_mc")}   # a blank letter is simply wrong
    assert all(outcome[gid] != "ok" for gid in outcome if gid not in mc_only), outcome


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_every_graded_cell(assignment: str) -> None:
    assert run_graded(assignment) == {gid: "ok" for gid in graded_points(assignment)}


def _normalised(notebook: nbformat.NotebookNode) -> list[tuple]:
    return [(c.cell_type, c.source, nbgrader_meta(c)) for c in notebook.cells]


def test_release_equals_what_nbgrader_generates_now(tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source", course / "source")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for assignment in ASSIGNMENTS:
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                        "--log-level=ERROR"], cwd=course, env=env, check=True, capture_output=True)
        fresh = nbformat.read(str(course / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
        assert _normalised(fresh) == _normalised(release_notebook(assignment)), \
            f"release/{assignment} is stale: run `make release`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_runs_in_a_real_kernel_under_grading(assignment: str, tmp_path: Path) -> None:
    from nbclient import NotebookClient

    notebook = source_notebook(assignment)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.pop("NBGRADER_EXECUTION")
    errors = [nbgrader_meta(c).get("grade_id") or c.source[:60] for c in notebook.cells
              if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert errors == []
