"""handgrad.grading.rebuild: the instructor's notebook with only the student's solution cells."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from handgrad.grading import rebuild as rb

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


def write(tmp_path: Path, nb, name="student.ipynb") -> Path:
    path = tmp_path / name
    if isinstance(nb, (dict, list)) and not isinstance(nb, nbformat.NotebookNode):
        path.write_text(json.dumps(nb), encoding="utf-8")
    else:
        nbformat.write(nb, str(path))
    return path


def cell_by_id(nb, grade_id):
    return next(c for c in nb.cells if rb.nbgrader_meta(c).get("grade_id") == grade_id)


def any_note(result, *words):
    return any(all(word in note for word in words) for note in result.notes)


def assert_instructor_except_solutions(result, sol=STUDENT_SOL):
    instructor = instructor_notebook()
    assert result.status == "ok", result.reason
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


# --- honest and edited submissions ----------------------------------------------------------


def test_honest_submission(tmp_path):
    result = rb.rebuild(instructor_notebook(), write(tmp_path, honest_student()))
    assert_instructor_except_solutions(result)
    assert cell_by_id(result.notebook, "answer").source == "Because the gradient vanishes."
    assert result.notes == []
    assert result.from_student == {"sol", "answer"}
    assert result.reason == ""


def test_the_instructor_notebook_is_not_modified(tmp_path):
    instructor = instructor_notebook()
    before = copy.deepcopy(instructor)
    rb.rebuild(instructor, write(tmp_path, honest_student()))
    assert instructor == before


def test_edited_test_cell_and_points_are_restored(tmp_path):
    student = honest_student()
    test = cell_by_id(student, "test_sol")
    test.source = "pass  # tests are for the weak"
    test.metadata["nbgrader"]["points"] = 1000
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert "sol" in result.from_student and "test_sol" not in result.from_student


def test_edited_given_cell_is_restored(tmp_path):
    student = honest_student()
    cell_by_id(student, "setup").source = "import numpy as np\nclass checks:\n    close = staticmethod(lambda *a, **k: None)"
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)


def test_flipped_metadata_uses_the_instructor_cell(tmp_path):
    student = honest_student()
    test = cell_by_id(student, "test_sol")
    test.source = "pass"
    test.metadata["nbgrader"].update({"solution": True, "grade": False, "locked": False})
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert cell_by_id(result.notebook, "test_sol").metadata == test_meta("test_sol")
    assert any_note(result, "test_sol", "marked as a solution")
    assert "test_sol" not in result.from_student


def test_deleted_solution_cell_becomes_a_stub(tmp_path):
    student = honest_student()
    student.cells = [c for c in student.cells if rb.nbgrader_meta(c).get("grade_id") != "sol"]
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert result.status == "ok"
    assert "raise NotImplementedError" in cell_by_id(result.notebook, "sol").source
    assert cell_by_id(result.notebook, "test_sol").source == rb.GUARD + TEST
    assert any_note(result, "sol", "deleted")
    assert result.from_student == {"answer"}


def test_deleted_markdown_answer_becomes_blank(tmp_path):
    student = honest_student()
    student.cells = [c for c in student.cells if rb.nbgrader_meta(c).get("grade_id") != "answer"]
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert cell_by_id(result.notebook, "answer").source == "YOUR ANSWER HERE"
    assert any_note(result, "answer", "deleted")


@pytest.mark.parametrize("grade_id", ["test_sol", "setup"])
def test_deleted_read_only_cell_is_restored(tmp_path, grade_id):
    student = honest_student()
    student.cells = [c for c in student.cells if rb.nbgrader_meta(c).get("grade_id") != grade_id]
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert any_note(result, grade_id, "restored")


def test_all_cells_deleted(tmp_path):
    student = honest_student()
    student.cells = []
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert result.status == "ok"
    assert cell_by_id(result.notebook, "test_sol").source == rb.GUARD + TEST
    assert "raise NotImplementedError" in cell_by_id(result.notebook, "sol").source
    assert result.from_student == set()


def test_duplicated_solution_cell_uses_the_first(tmp_path):
    student = honest_student()
    second = copy.deepcopy(cell_by_id(student, "sol"))
    second.source = "def f(x):\n    return 3 * x"
    second.id = "duplicate-of-sol"
    index = student.cells.index(cell_by_id(student, "sol"))
    student.cells.insert(index + 1, second)
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert any_note(result, "sol", "2 times", "first")


def test_retyped_solution_cell(tmp_path):
    student = honest_student()
    sol = cell_by_id(student, "sol")
    index = student.cells.index(sol)
    student.cells[index] = new_markdown_cell(STUDENT_SOL, metadata=sol.metadata)
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert cell_by_id(result.notebook, "sol").cell_type == "code"
    assert any_note(result, "sol", "markdown")


def test_extra_code_cell_without_metadata_is_ignored(tmp_path):
    student = honest_student()
    student.cells.insert(3, new_code_cell("import handgrad.checks\nhandgrad.checks.close = lambda *a, **k: None"))
    student.cells.append(new_code_cell("   \n"))  # blank: not worth a note
    student.cells.append(new_markdown_cell("my notes"))  # markdown: not code
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert all("handgrad.checks.close =" not in c.source for c in result.notebook.cells)
    assert any_note(result, "1 code cell")


def test_extra_cell_with_an_unknown_grade_id_is_ignored(tmp_path):
    student = honest_student()
    student.cells.append(new_code_cell("x = 1", metadata=solution_meta("mine")))
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert any_note(result, "mine", "not part of the assignment")


def test_prefilled_outputs_are_ignored(tmp_path):
    student = honest_student()
    output = new_output("stream", name="stdout", text="all checks passed\n")
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs = [output]
            cell.execution_count = 7
    instructor = instructor_notebook()
    cell_by_id(instructor, "setup").outputs = [output]  # even the instructor's saved outputs go
    result = rb.rebuild(instructor, write(tmp_path, student))
    for cell in result.notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    assert cell_by_id(result.notebook, "sol").source == STUDENT_SOL
    assert any_note(result, "outputs", "sol")


def test_another_kernelspec_is_noted(tmp_path):
    student = honest_student()
    student.metadata["kernelspec"] = {"name": "julia-1.9", "display_name": "Julia", "language": "julia"}
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert_instructor_except_solutions(result)
    assert result.notebook.metadata["kernelspec"]["name"] == "python3"
    assert any_note(result, "julia-1.9")


def test_missing_kernelspec_is_fine(tmp_path):
    student = honest_student()
    del student.metadata["kernelspec"]
    result = rb.rebuild(instructor_notebook(), write(tmp_path, student))
    assert result.notes == []


def test_source_as_a_list_of_lines(tmp_path):
    raw = json.loads(nbformat.writes(honest_student()))
    for cell in raw["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "sol":
            cell["source"] = ["def f(x):\n", "    return 2 * x"]
    result = rb.rebuild(instructor_notebook(), write(tmp_path, raw))
    assert_instructor_except_solutions(result)
    assert result.notes == []


def test_odd_metadata_is_tolerated(tmp_path):
    raw = json.loads(nbformat.writes(honest_student()))
    raw["cells"].append({"cell_type": "code", "source": "", "metadata": "not a dict", "outputs": []})
    raw["cells"].append({"cell_type": "code", "source": "", "metadata": {"nbgrader": ["x"]}, "outputs": []})
    raw["cells"].append({"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade_id": 5}},
                         "outputs": []})
    result = rb.rebuild(instructor_notebook(), write(tmp_path, raw))
    assert_instructor_except_solutions(result)


# --- missing and corrupt submissions --------------------------------------------------------


def test_missing_file(tmp_path):
    result = rb.rebuild(instructor_notebook(), tmp_path / "nope.ipynb")
    assert result.status == "missing"
    assert result.notebook is None
    assert "nope.ipynb" in result.reason


CORRUPT = {
    "bad-json": "{not json",
    "empty": "",
    "list": "[1, 2, 3]",
    "string": '"a notebook"',
    "null": "null",
    "number": "3",
    "no-cells": '{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cells-not-a-list": '{"cells": {"a": 1}, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cells-not-dicts": '{"cells": [1, "x", null], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cell-without-type": '{"cells": [{"source": "x"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cell-type-not-str": '{"cells": [{"cell_type": 3, "source": "x"}], "metadata": {}, "nbformat": 4}',
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_submissions(tmp_path, name):
    path = tmp_path / "student.ipynb"
    path.write_text(CORRUPT[name], encoding="utf-8")
    result = rb.rebuild(instructor_notebook(), path)
    assert result.status == "corrupt"
    assert result.notebook is None
    assert result.reason.startswith("not a readable notebook")


def test_truncated_file(tmp_path):
    text = nbformat.writes(honest_student())
    path = tmp_path / "student.ipynb"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    result = rb.rebuild(instructor_notebook(), path)
    assert result.status == "corrupt"
    assert result.reason


def test_binary_garbage(tmp_path):
    path = tmp_path / "student.ipynb"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    result = rb.rebuild(instructor_notebook(), path)
    assert result.status == "corrupt"


@pytest.mark.parametrize("mutate", [
    lambda raw: raw.__setitem__("metadata", []),
    lambda raw: raw["metadata"].__setitem__("kernelspec", "python3"),
    lambda raw: raw["cells"].append({"cell_type": "code", "source": "", "outputs": [],
                                     "metadata": {"nbgrader": {"grade_id": ["x"], "solution": True}}}),
], ids=["metadata-list", "kernelspec-str", "grade-id-list"])
def test_odd_top_level_metadata_never_raises(tmp_path, mutate):
    raw = json.loads(nbformat.writes(honest_student()))
    mutate(raw)
    result = rb.rebuild(instructor_notebook(), write(tmp_path, raw))
    assert result.status in ("ok", "corrupt")


@pytest.mark.parametrize("source, names", [
    ("import torch\ny = torch.relu(x)", {"torch"}),
    ("from scipy.special import expit", {"scipy"}),
    ("y = __import__('to' + 'rch')", {"__import__"}),
    ("exec('import torch')", {"exec"}),
    ("y = np.maximum(x, 0)  # torch would do this too", set()),
    ("def broken(:", set()),
])
def test_delegating_names(source, names):
    assert rb.delegating_names(source) == names


def test_solution_that_delegates_is_flagged_and_mapped_to_its_tests(tmp_path):
    nb = honest_student()
    nb.cells[2].source = "import torch\ndef f(x):\n    return torch.tensor(x).numpy() * 2"
    result = rb.rebuild(instructor_notebook(), write(tmp_path, nb))
    assert result.delegated == {"sol": {"torch"}}
    assert any("torch" in note for note in result.notes)
    assert rb.tests_after(result.notebook, "sol") == ["test_sol"]
