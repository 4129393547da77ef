"""A failed test whose solution cell is still the released stub is `not_attempted`, not an error."""

from __future__ import annotations

import copy
from collections.abc import Callable

import nbformat
import pytest

from handgrad.grading import rebuild, unit
from handgrad.grading.limits import Limits
from handgrad.grading.results import CellVerdict, Status
from handgrad.grading.round import released_stubs
from tests.conftest import COURSE

ID = "02_activations"


def first_test_of_a_stub(edit: Callable[[str], str], status: Status = Status.ERROR) -> CellVerdict | None:
    """The verdict of the first test after the first solution cell, whose released stub went through ``edit``."""
    instructor = nbformat.read(str(COURSE / "source" / ID / f"{ID}.ipynb"), as_version=4)
    student = copy.deepcopy(nbformat.read(str(COURSE / "release" / ID / f"{ID}.ipynb"), as_version=4))
    stubs = released_stubs(COURSE, ID)
    solution = next(iter(stubs))
    cell = next(c for c in student.cells if rebuild.nbgrader_meta(c).get("grade_id") == solution)
    cell.source = edit(cell.source)
    rebuilt = rebuild.rebuild(instructor, student)
    job = unit.Job("ann", ID, "", b"", f"ann/{ID}/{ID}.ipynb", {}, Limits(), "limits", {}, (), stubs)
    test_id = rebuild.tests_after(rebuilt.notebook, solution)[0]
    verdict = CellVerdict(test_id, 2.0, 0.0, status, "not implemented yet", "NotImplementedError")
    return unit._not_attempted(job, rebuilt, verdict)


@pytest.mark.parametrize("edit", [lambda source: source, lambda source: "\n" + source.replace("\n", "  \n") + "\n\n"],
                         ids=["untouched", "blank lines and trailing spaces"])
def test_an_untouched_stub_is_not_attempted(edit: Callable[[str], str]) -> None:
    verdict = first_test_of_a_stub(edit)
    assert verdict is not None and verdict.status is Status.NOT_ATTEMPTED and verdict.score == 0.0
    assert verdict.label == "not_attempted" and "as released" in verdict.message


def test_an_edited_stub_keeps_its_error() -> None:
    assert first_test_of_a_stub(lambda source: source + "\nx = 1") is None


def test_a_passing_test_stays_passed_and_a_timeout_stays_a_timeout() -> None:
    assert first_test_of_a_stub(lambda source: source, Status.OK) is None
    assert first_test_of_a_stub(lambda source: source, Status.TIMEOUT) is None


def test_without_a_release_nothing_is_called_not_attempted(tmp_path) -> None:
    assert released_stubs(tmp_path, ID) == {}
