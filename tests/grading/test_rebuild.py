"""handgrad.grading.rebuild: the instructor's notebook with only the student's solution cells.

Student notebooks go through :func:`handgrad.grading.submission.parse` first, as in a round.
"""

from __future__ import annotations

import copy
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from handgrad.grading import rebuild as rb
from handgrad.grading import submission

SETUP = "import numpy as np\nfrom handgrad import checks"
SOL_STUB = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
TEST = "checks.close('01.f.1', f(np.ones(2)), 2 * np.ones(2), what='f')"
STUDENT_SOL = "def f(x):\n    return 2 * x"


def given_meta(grade_id):
    return {"nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": grade_id}}


def solution_meta(grade_id):
    return {"nbgrader": {"solution": True, "grade": False, "grade_id": grade_id}}


def test_meta(grade_id, points=2):
    return {"nbgrader": {"grade": True, "solution": False, "locked": True, "points": points, "grade_id": grade_id}}


test_meta.__test__ = False  # a helper, not a pytest test


def instructor_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_markdown_cell("# Assignment 1"),
        new_code_cell(SETUP, metadata=given_meta("setup")),
        new_code_cell(SOL_STUB, metadata=solution_meta("sol")),
        new_code_cell(TEST, metadata=test_meta("test_sol")),
        new_markdown_cell("YOUR ANSWER HERE", metadata=solution_meta("answer")),
    ]
    return nb


def honest_student() -> nbformat.NotebookNode:
    nb = copy.deepcopy(instructor_notebook())
    nb.cells[2].source = STUDENT_SOL
    nb.cells[4].source = "Because the gradient vanishes."
    return nb


def merged(nb, instructor=None) -> rb.Rebuilt:
    """The student's notebook (a NotebookNode or raw JSON data) read as a round reads it, then rebuilt."""
    raw = json.dumps(nb) if not isinstance(nb, nbformat.NotebookNode) else nbformat.writes(nb)
    read = submission.parse(raw.encode())
    assert read.notebook is not None, read.reason
    return rb.rebuild(instructor_notebook() if instructor is None else instructor, read.notebook)


def cell_by_id(nb, grade_id):
    return next(c for c in nb.cells if rb.nbgrader_meta(c).get("grade_id") == grade_id)


def any_note(result, *words):
    return any(all(word in note for word in words) for note in result.notes)


def assert_instructor_except_solutions(result, sol=STUDENT_SOL):
    instructor = instructor_notebook()
    nb = result.notebook
    assert len(nb.cells) == len(instructor.cells)
    for mine, theirs in zip(nb.cells, instructor.cells):
        assert mine.cell_type == theirs.cell_type
        assert mine.metadata == theirs.metadata
        if rb.nbgrader_meta(theirs).get("grade_id") != "sol" and rb.nbgrader_meta(theirs).get("grade_id") != "answer":
            # Autograded cells run behind the guard that reloads the check helpers.
            expected = rb.GUARD + theirs.source if rb.is_autograded(theirs) else theirs.source
            assert mine.source == expected
    assert cell_by_id(nb, "sol").source == sol
    assert cell_by_id(nb, "test_sol").source == rb.GUARD + TEST
    assert cell_by_id(nb, "test_sol").metadata["nbgrader"]["points"] == 2


# --- helpers --------------------------------------------------------------------------------


def test_helpers():
    nb = instructor_notebook()
    assert [rb.nbgrader_meta(c).get("grade_id") for c in rb.graded_cells(nb)] == ["test_sol"]
    assert [rb.is_autograded(c) for c in nb.cells] == [False, False, False, True, False]
    assert rb.nbgrader_meta(new_code_cell("x", metadata={"nbgrader": "junk"})) == {}


def test_the_last_graded_cell_is_a_test_or_a_written_answer_never_an_experiment_after_it():
    nb = instructor_notebook()
    nb.cells.append(new_code_cell("plt.plot(f(np.ones(3)))"))       # the closing experiment: no grade
    assert rb.last_graded_index(nb) == 3
    nb.cells.append(new_markdown_cell("YOUR ANSWER HERE", metadata={"nbgrader": {
        "grade": True, "solution": True, "points": 1, "grade_id": "why"}}))
    assert rb.last_graded_index(nb) == 6
    assert rb.last_graded_index(new_notebook()) == -1


# --- honest and edited submissions ----------------------------------------------------------


def test_honest_submission():
    result = merged(honest_student())
    assert_instructor_except_solutions(result)
    assert cell_by_id(result.notebook, "answer").source == "Because the gradient vanishes."
    assert result.notes == []
    assert result.from_student == {"sol", "answer"}
    assert result.delegated == {} and result.review == {}


def test_the_instructor_notebook_is_not_modified():
    instructor = instructor_notebook()
    before = copy.deepcopy(instructor)
    merged(honest_student(), instructor)
    assert instructor == before


def test_edited_test_cell_and_points_are_restored():
    student = honest_student()
    test = cell_by_id(student, "test_sol")
    test.source = "pass  # tests are for the weak"
    test.metadata["nbgrader"]["points"] = 1000
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert "sol" in result.from_student and "test_sol" not in result.from_student


def test_edited_given_cell_is_restored():
    student = honest_student()
    cell_by_id(student, "setup").source = ("import numpy as np\nclass checks:\n"
                                           "    close = staticmethod(lambda *a, **k: None)")
    result = merged(student)
    assert_instructor_except_solutions(result)


def test_flipped_metadata_uses_the_instructor_cell():
    student = honest_student()
    test = cell_by_id(student, "test_sol")
    test.source = "pass"
    test.metadata["nbgrader"].update({"solution": True, "grade": False, "locked": False})
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert cell_by_id(result.notebook, "test_sol").metadata == test_meta("test_sol")
    assert any_note(result, "test_sol", "marked as a solution")
    assert "test_sol" not in result.from_student


def test_deleted_solution_cell_becomes_a_stub():
    student = honest_student()
    student.cells = [c for c in student.cells if rb.nbgrader_meta(c).get("grade_id") != "sol"]
    result = merged(student)
    assert "raise NotImplementedError" in cell_by_id(result.notebook, "sol").source
    assert cell_by_id(result.notebook, "test_sol").source == rb.GUARD + TEST
    assert any_note(result, "sol", "deleted")
    assert result.from_student == {"answer"}


def test_deleted_markdown_answer_becomes_blank():
    student = honest_student()
    student.cells = [c for c in student.cells if rb.nbgrader_meta(c).get("grade_id") != "answer"]
    result = merged(student)
    assert cell_by_id(result.notebook, "answer").source == "YOUR ANSWER HERE"
    assert any_note(result, "answer", "deleted")


@pytest.mark.parametrize("grade_id", ["test_sol", "setup"])
def test_deleted_read_only_cell_is_restored(grade_id):
    student = honest_student()
    student.cells = [c for c in student.cells if rb.nbgrader_meta(c).get("grade_id") != grade_id]
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert any_note(result, grade_id, "restored")


def test_all_cells_deleted():
    student = honest_student()
    student.cells = []
    result = merged(student)
    assert cell_by_id(result.notebook, "test_sol").source == rb.GUARD + TEST
    assert "raise NotImplementedError" in cell_by_id(result.notebook, "sol").source
    assert result.from_student == set()


def test_duplicated_solution_cell_uses_the_first():
    student = honest_student()
    second = copy.deepcopy(cell_by_id(student, "sol"))
    second.source = "def f(x):\n    return 3 * x"
    second.id = "duplicate-of-sol"
    index = student.cells.index(cell_by_id(student, "sol"))
    student.cells.insert(index + 1, second)
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert any_note(result, "sol", "2 times", "first")


def test_retyped_solution_cell():
    student = honest_student()
    sol = cell_by_id(student, "sol")
    index = student.cells.index(sol)
    student.cells[index] = new_markdown_cell(STUDENT_SOL, metadata=sol.metadata)
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert cell_by_id(result.notebook, "sol").cell_type == "code"
    assert any_note(result, "sol", "markdown")


def test_extra_code_cell_without_metadata_is_ignored():
    student = honest_student()
    student.cells.insert(3, new_code_cell("import handgrad.checks\nhandgrad.checks.close = lambda *a, **k: None"))
    student.cells.append(new_code_cell("   \n"))  # blank: not worth a note
    student.cells.append(new_markdown_cell("my notes"))  # markdown: not code
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert all("handgrad.checks.close =" not in c.source for c in result.notebook.cells)
    assert any_note(result, "1 code cell")


def test_extra_cell_with_an_unknown_grade_id_is_ignored():
    student = honest_student()
    student.cells.append(new_code_cell("x = 1", metadata=solution_meta("mine")))
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert any_note(result, "mine", "not part of the assignment")


def test_prefilled_outputs_are_ignored():
    student = honest_student()
    output = new_output("stream", name="stdout", text="all checks passed\n")
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs = [output]
            cell.execution_count = 7
    instructor = instructor_notebook()
    cell_by_id(instructor, "setup").outputs = [output]  # even the instructor's saved outputs go
    result = merged(student, instructor)
    for cell in result.notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    assert cell_by_id(result.notebook, "sol").source == STUDENT_SOL
    assert any_note(result, "outputs", "sol")


def test_another_kernelspec_is_noted():
    student = honest_student()
    student.metadata["kernelspec"] = {"name": "julia-1.9", "display_name": "Julia", "language": "julia"}
    result = merged(student)
    assert_instructor_except_solutions(result)
    assert result.notebook.metadata["kernelspec"]["name"] == "python3"
    assert any_note(result, "julia-1.9")


def test_missing_kernelspec_is_fine():
    student = honest_student()
    del student.metadata["kernelspec"]
    result = merged(student)
    assert result.notes == []


def test_source_as_a_list_of_lines():
    raw = json.loads(nbformat.writes(honest_student()))
    for cell in raw["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "sol":
            cell["source"] = ["def f(x):\n", "    return 2 * x"]
    result = merged(raw)
    assert_instructor_except_solutions(result)
    assert result.notes == []


def test_odd_metadata_is_tolerated():
    raw = json.loads(nbformat.writes(honest_student()))
    raw["cells"].append({"cell_type": "code", "source": "", "metadata": "not a dict", "outputs": []})
    raw["cells"].append({"cell_type": "code", "source": "", "metadata": {"nbgrader": ["x"]}, "outputs": []})
    raw["cells"].append({"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade_id": 5}},
                         "outputs": []})
    result = merged(raw)
    assert_instructor_except_solutions(result)


# --- odd but readable submissions -----------------------------------------------------------


@pytest.mark.parametrize("mutate", [
    lambda raw: raw.__setitem__("metadata", []),
    lambda raw: raw["metadata"].__setitem__("kernelspec", "python3"),
    lambda raw: raw["cells"].append({"cell_type": "code", "source": "", "outputs": [],
                                     "metadata": {"nbgrader": {"grade_id": ["x"], "solution": True}}}),
], ids=["metadata-list", "kernelspec-str", "grade-id-list"])
def test_odd_top_level_metadata_is_merged_like_any_other(mutate):
    raw = json.loads(nbformat.writes(honest_student()))
    mutate(raw)
    result = merged(raw)
    assert_instructor_except_solutions(result)
    assert result.from_student == {"sol", "answer"}


def test_solution_that_delegates_is_flagged_and_mapped_to_its_tests():
    nb = honest_student()
    nb.cells[2].source = "import torch\ndef f(x):\n    return torch.tensor(x).numpy() * 2"
    result = merged(nb)
    assert result.delegated == {"sol": {"torch"}}
    assert any("torch" in note for note in result.notes)
    assert rb.tests_after(result.notebook, "sol") == ["test_sol"]


def test_solution_that_reaches_into_internals_is_marked_for_review():
    nb = honest_student()
    nb.cells[2].source = "import gc\ndef f(x):\n    gc.collect()\n    return 2 * x"
    result = merged(nb)
    assert result.review == {"sol": [(1, rb.scan.REVIEW_MODULES["gc"]), (3, rb.scan.REVIEW_NAMES["gc"])]}
    assert result.delegated == {}


def test_what_the_instructor_solution_does_itself_is_not_for_review():
    instructor = instructor_notebook()
    instructor.cells[2].source = "import gc\n" + SOL_STUB
    nb = honest_student()
    nb.cells[2].source = "import gc\n" + STUDENT_SOL
    assert merged(nb, instructor).review == {}


def test_a_bug_in_the_merge_is_raised_not_turned_into_a_status(monkeypatch):
    def broken(cell):
        raise KeyError("grade_id")
    monkeypatch.setattr(rb, "nbgrader_meta", broken)
    with pytest.raises(KeyError):
        merged(honest_student())
