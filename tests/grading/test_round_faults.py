"""One grading round with honest, faulty and adversarial students on 02_activations:
each fault gets its exact per-cell status and score, and nobody else's grade changes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import nbformat
import pytest

from handgrad.grading import sandbox
from handgrad.grading.round import run_round

COURSE = Path(__file__).resolve().parents[2]
ID = "02_activations"
CELLS = ["test_identity", "test_sigmoid", "test_sigmoid_stable", "test_tanh", "test_relu", "test_leaky_relu"]
POINTS = dict(zip(CELLS, [1, 3, 1, 2, 2, 2]))
ISOLATION = "bubblewrap" if sandbox.bubblewrap_works() else "limits"


def prepend(grade_id: str, code: str):
    """A change to the reference submission: ``code`` runs at the top of one solution cell."""
    def change(notebook: nbformat.NotebookNode) -> None:
        cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        cell.source = code + "\n" + cell.source
    return change


def replace(grade_id: str, code: str):
    """A change that replaces one solution cell of the reference submission by ``code``."""
    def change(notebook: nbformat.NotebookNode) -> None:
        cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        cell.source = code
    return change


def in_method(grade_id: str, method: str, code: str):
    """A change that runs ``code`` first inside one method of the class in a solution cell."""
    def change(notebook: nbformat.NotebookNode) -> None:
        cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        head = f"    def {method}(self, z):\n" if method == "forward" else f"    def {method}(self):\n"
        assert head in cell.source
        cell.source = cell.source.replace(head, head + "".join(f"        {line}\n" for line in code.splitlines()), 1)
    return change


def ok_except(**lost: str) -> dict[str, tuple[str, float]]:
    """Expected (status, score) per cell: full marks except the named cells with their status."""
    return {cell: (lost[cell], 0.0) if cell in lost else ("ok", float(POINTS[cell])) for cell in CELLS}


def every(status: str) -> dict[str, tuple[str, float]]:
    return {cell: (status, 0.0) for cell in CELLS}


# student -> (change to the reference submission, or a raw file text, expected cells)
FAULTS = {
    "raises": (prepend("sigmoid", "raise ValueError('half done')"), ok_except(
        test_sigmoid="error:NameError", test_sigmoid_stable="error:NameError")),
    "loops": (prepend("relu", "while True:\n    pass"), ok_except(test_relu="error:NameError")),
    "ignores_sigint": (prepend("tanh", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
                       ok_except(test_tanh="error:NameError")),
    "slow_but_correct": (prepend("tanh", "import time\ntime.sleep(3)"), ok_except()),
    "floods_in_test": (in_method("identity", "forward", "print('x' * 5_000_000)"), ok_except(test_identity="output_limit")),
    "exits_kernel": (in_method("leaky_relu", "forward", "import os\nos._exit(1)"), ok_except(test_leaky_relu="kernel_died")),
    "memory_bomb": (in_method("relu", "forward", "hog = bytearray(8 << 30)"), ok_except(test_relu="error:CheckFailed")),
    "silences_checks": (prepend("identity", "import handgrad.checks as hc\nhc.close = lambda *a, **k: None\n"
                                            "hc.unchanged = lambda *a, **k: None"), every("tampered")),
    "patches_numpy_abs": (replace("identity", "import numpy\nnumpy.abs = lambda x: numpy.zeros(numpy.shape(x))\n"
                                              "class Identity(Activation):\n    def forward(self, z):\n        self.state = z\n"
                                              "        return z * 2\n    def derivative(self):\n        return 0 * self.state"),
                          ok_except(test_identity="tampered")),
    "equal_to_everything": (in_method("sigmoid", "forward", "class Yes:\n    def __eq__(self, other): return True\n"
                                                         "    __array_priority__ = 1000\nreturn Yes()"),
                            ok_except(test_sigmoid="error:CheckFailed", test_sigmoid_stable="error:CheckFailed")),
    "corrupt": ("{ this is not json", every("corrupt")),
    "missing": (None, every("missing")),
}
HONEST = {"reference": ok_except(), "buggy": ok_except(test_sigmoid_stable="error:CheckFailed", test_relu="error:CheckFailed")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[str, float]]:
    course = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source" / ID, course / "source" / ID)
    for student in HONEST:
        shutil.copytree(COURSE / "submitted" / student / ID, course / "submitted" / student / ID)
    reference = nbformat.read(str(COURSE / "submitted" / "reference" / ID / f"{ID}.ipynb"), as_version=4)
    for student, (change, _) in FAULTS.items():
        folder = course / "submitted" / student / ID
        folder.mkdir(parents=True)
        if isinstance(change, str):
            (folder / f"{ID}.ipynb").write_text(change)
        elif change is not None:
            notebook = nbformat.from_dict(reference)
            change(notebook)
            nbformat.write(notebook, str(folder / f"{ID}.ipynb"))
    limits = sandbox.Limits(cell_timeout=6, grace=2, data_bytes=2 << 30)
    results, facts = run_round(course, [ID], jobs=2, limits=limits, isolation=ISOLATION)
    assert facts["infrastructure_errors"] == []
    with open(course / "reports" / "grades.csv") as stream:
        rows = list(csv.DictReader(stream))
    return {(row["student"], row["grade_id"]): (row["status"], float(row["score"])) for row in rows}


@pytest.mark.parametrize("student", sorted(FAULTS))
def test_fault_gets_its_status_and_score(graded: dict, student: str) -> None:
    expected = FAULTS[student][1]
    assert {cell: graded[(student, cell)] for cell in CELLS} == expected


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_students_are_unaffected(graded: dict, student: str) -> None:
    assert {cell: graded[(student, cell)] for cell in CELLS} == HONEST[student]


def test_every_student_has_every_cell(graded: dict) -> None:
    students = set(FAULTS) | set(HONEST)
    assert {key for key in graded} == {(s, c) for s in students for c in CELLS}
