"""One grading round with honest, faulty and adversarial students on 02_activations:
each fault gets its exact per-cell status and score, and nobody else's grade changes.
Submissions that are not a plain file are rejected (never followed), and passing solutions
that reach into internals are listed to review, with the student, the cell, the line and why."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import nbformat
import pytest

from handgrad.grading import scan
from handgrad.grading.bubblewrap import bubblewrap_works
from handgrad.grading.limits import Limits
from handgrad.grading.round import run_round
from tests.conftest import COURSE, copy_course

ID = "02_activations"
CELLS = ["test_identity", "test_sigmoid", "test_sigmoid_stable", "test_tanh", "test_relu", "test_leaky_relu"]
POINTS = dict(zip(CELLS, [1, 3, 1, 2, 2, 2]))
ISOLATION = "bubblewrap" if bubblewrap_works() else "limits"


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


def edit_cell(grade_id: str, **changes):
    """A change to a cell's source, metadata or outputs (as a student could make in the JSON)."""
    def change(notebook: nbformat.NotebookNode) -> None:
        cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        if "source" in changes:
            cell.source = changes["source"]
        cell.metadata["nbgrader"].update(changes.get("meta", {}))
        if "outputs" in changes:
            cell.outputs = changes["outputs"]
    return change


def structural(kind: str, grade_id: str = ""):
    """Changes to the list of cells: delete, duplicate, add a cell, change the kernelspec."""
    def change(notebook: nbformat.NotebookNode) -> None:
        index = next((i for i, c in enumerate(notebook.cells)
                      if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id), None)
        if kind == "delete":
            del notebook.cells[index]
        elif kind == "duplicate":
            copy = nbformat.from_dict(notebook.cells[index])
            copy["id"] = "duplicate"
            notebook.cells.insert(index, copy)
        elif kind == "extra":
            notebook.cells.append(nbformat.v4.new_code_cell(
                "class Identity(Activation):\n    def forward(self, z):\n        return z * 0\n"))
        elif kind == "kernelspec":
            notebook.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    return change


BROKEN_IDENTITY = ("class Identity(Activation):\n    def forward(self, z):\n        self.state = z\n"
                   "        return z * 2\n    def derivative(self):\n        return 0 * self.state\n")


def leak_probe(path: str, mode: str = "r") -> str:
    """Solution-cell code that breaks the student's own Identity if ``path`` could be opened."""
    return (f"try:\n    open({path!r}, {mode!r}).close()\n    LEAKED = True\nexcept OSError:\n    LEAKED = False\n"
            f"if LEAKED:\n    raise RuntimeError('the sandbox let me open {path}')")


class Plant:
    """A submission that is not a notebook file: ``make(path, course)`` creates what lies at its path."""

    def __init__(self, make) -> None:
        self.make = make


def link_folder_to(target: Path) -> Plant:
    """The student's assignment folder is itself a link to ``target``."""
    def make(path: Path, course: Path) -> None:
        path.parent.rmdir()
        os.symlink(target, path.parent)
    return Plant(make)


def device(path: Path, course: Path) -> None:
    """A character device (a copy of /dev/null) where the notebook should be; a FIFO when not root."""
    if os.getuid() == 0:
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        os.mkfifo(path)


def faults(course: Path) -> dict:
    """student -> (change to the reference submission, or a raw file text, or None; expected cells)."""
    other = course / "submitted" / "reference" / ID / f"{ID}.ipynb"
    return {
        "raises": (prepend("sigmoid", "raise ValueError('half done')"), ok_except(
            test_sigmoid="error:NameError", test_sigmoid_stable="error:NameError")),
        "calls_sys_exit": (prepend("tanh", "import sys\nsys.exit(0)"), ok_except(test_tanh="error:NameError")),
        "loops": (prepend("relu", "while True:\n    pass"), ok_except(test_relu="error:NameError")),
        "ignores_sigint": (prepend("tanh", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                           "while True:\n    pass"), ok_except(test_tanh="error:NameError")),
        "slow_but_correct": (prepend("tanh", "import time\ntime.sleep(3)"), ok_except()),
        "floods_in_test": (in_method("identity", "forward", "print('x' * 5_000_000)"),
                           ok_except(test_identity="output_limit")),
        "exits_kernel": (in_method("leaky_relu", "forward", "import os\nos._exit(1)"),
                         ok_except(test_leaky_relu="kernel_died")),
        "segfaults": (in_method("leaky_relu", "forward", "import ctypes\nctypes.string_at(0)"),
                      ok_except(test_leaky_relu="kernel_died")),
        "memory_bomb": (in_method("relu", "forward", "hog = bytearray(8 << 30)"),
                        ok_except(test_relu="error:CheckFailed")),
        "fork_bomb": (prepend("tanh", "import subprocess\nkids = []\ntry:\n    for _ in range(1000):\n"
                                      "        kids.append(subprocess.Popen(['sleep', '30']))\n"
                                      "except OSError:\n    pass"),
                      ok_except()),
        "silences_checks": (replace("identity", "import handgrad.checks as hc\nhc.close = lambda *a, **k: None\n"
                                                "hc.unchanged = lambda *a, **k: None\n" + BROKEN_IDENTITY),
                            ok_except(test_identity="error:CheckFailed")),
        "silences_checks_at_call_time": (replace("identity", BROKEN_IDENTITY.replace(
            "        self.state = z\n", "        import handgrad.checks as hc\n"
                                      "        hc.close = lambda *a, **k: None\n"
                                      "        self.state = z\n")), ok_except(test_identity="tampered")),
        "substitutes_oracle_at_call_time": (replace("identity", BROKEN_IDENTITY.replace(
            "        self.state = z\n", "        import handgrad.checks as hc\n        real = hc.close\n"
                                      "        hc.close = lambda cid, got, expected, *a, **k: "
                                      "real(cid, expected, expected, *a, **k)\n"
                                      "        self.state = z\n")), ok_except(test_identity="tampered")),
        "redirects_records": (prepend("tanh", "import os\nos.remove('records.jsonl')\n"
                                              "os.symlink('/dev/zero', 'records.jsonl')"),
                              ok_except(test_tanh="tampered", test_relu="tampered", test_leaky_relu="tampered")),
        "plants_links_then_exits": (replace("leaky_relu", "import os\n"
                                                          "for name in ('kernel.json', 'records.chunk', 'k'):\n"
                                                          f"    os.symlink({str(course / 'canary.txt')!r}, name)\n"
                                                          "class LeakyReLU(Activation):\n    def forward(self, z):\n"
                                                          "        os._exit(1)\n"),
                                    ok_except(test_leaky_relu="kernel_died")),
        "patches_numpy_abs": (replace("identity", "import numpy\nnumpy.abs = lambda x: numpy.zeros(numpy.shape(x))\n"
                                                  + BROKEN_IDENTITY), ok_except(test_identity="tampered")),
        "patches_np_testing": (replace("identity", "import numpy\n"
                                                   "numpy.testing.assert_allclose = lambda *a, **k: None\n"
                                                   "numpy.allclose = lambda *a, **k: True\n" + BROKEN_IDENTITY),
                               ok_except(test_identity="error:CheckFailed")),
        "patches_torch_oracle": (replace("sigmoid", "import sys\n"
                                                    "sys.modules['to' + 'rch'].sigmoid = lambda z: z * 0 + 0.5\n"
                                                    "class Sigmoid(Activation):\n    def forward(self, z):\n"
                                                    "        self.state = np.full(np.shape(z), 0.5)\n"
                                                    "        return self.state\n"
                                                    "    def derivative(self):\n        return self.state * 0\n"),
                                 ok_except(test_sigmoid="tampered", test_sigmoid_stable="tampered")),
        "equal_to_everything": (in_method("sigmoid", "forward", "class Yes:\n    def __eq__(self, other): return True\n"
                                                             "    __array_priority__ = 1000\nreturn Yes()"),
                                ok_except(test_sigmoid="error:CheckFailed", test_sigmoid_stable="error:CheckFailed")),
        "delegates_to_torch_when_graded": (replace("relu", "import os\nclass ReLU(Activation):\n"
                                                           "    def forward(self, z):\n        self.state = z\n"
                                                           "        if os.environ.get('NBGRADER_EXECUTION'):\n"
                                                           "            return torch.relu(torch.tensor(z)).numpy()\n"
                                                           "        return z * 0\n    def derivative(self):\n"
                                                           "        return (self.state > 0) * 1.0\n"),
                                           ok_except(test_relu="delegated")),
        "reads_source": (prepend("identity", leak_probe(str(course / "source" / ID / f"{ID}.ipynb"))), ok_except()),
        "reads_gradebook": (prepend("identity", leak_probe(str(course / "gradebook.db"))), ok_except()),
        "reads_other_student": (prepend("identity", leak_probe(str(other))), ok_except()),
        "writes_gradebook": (prepend("identity", leak_probe(str(course / "gradebook.db"), "a")), ok_except()),
        "writes_report": (prepend("identity", leak_probe(str(course / "reports" / "grades.csv"), "a")), ok_except()),
        "rewrites_lib": (prepend("identity", "import handgrad.checks\n" + leak_probe(handgrad_checks_file(), "a")),
                         ok_except()),
        "edits_test_source_and_points": (edit_cell("test_identity", source="pass", meta={"points": 100}), ok_except()),
        "flips_test_metadata": (edit_cell("test_sigmoid", source="pass", meta={"grade": False, "solution": True,
                                                                               "locked": False}), ok_except()),
        "deletes_test_cell": (structural("delete", "test_tanh"), ok_except()),
        "duplicates_test_cell": (structural("duplicate", "test_relu"), ok_except()),
        "code_outside_solutions": (structural("extra"), ok_except()),
        "prefilled_outputs": (edit_cell("test_identity", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text="PASSED 1/1")]), ok_except()),
        "wrong_kernelspec": (structural("kernelspec"), ok_except()),
        "stub_left": (replace("tanh", "class Tanh(Activation):\n    def forward(self, z):\n        # YOUR CODE HERE\n"
                                      "        raise NotImplementedError()\n    def derivative(self):\n"
                                      "        raise NotImplementedError()\n"),
                      ok_except(test_tanh="error:CheckFailed")),
        "corrupt": ("{ this is not json", every("corrupt")),
        "missing": (None, every("missing")),
        "links_to_source": (Plant(lambda path, course: os.symlink(course / "source" / ID / f"{ID}.ipynb", path)),
                            every("rejected")),
        "links_to_other_student": (Plant(lambda path, course: os.symlink(other, path)), every("rejected")),
        "links_folder_to_source": (link_folder_to(course / "source" / ID), every("rejected")),
        "links_folder_to_other_student": (link_folder_to(other.parent), every("rejected")),
        "folder_as_notebook": (Plant(lambda path, course: path.mkdir()), every("rejected")),
        "fifo_as_notebook": (Plant(lambda path, course: os.mkfifo(path)), every("rejected")),
        "device_as_notebook": (Plant(device), every("rejected")),
        "touches_sys_modules_and_passes": (prepend("relu", "import sys\n_numpy = sys.modules['numpy']"), ok_except()),
        "collects_garbage_and_passes": (prepend("tanh", "import gc\ngc.collect()"), ok_except()),
        "reads_frames_and_passes": (in_method("sigmoid", "forward", "import sys\n_caller = sys._getframe(1).f_back"),
                                    ok_except()),
    }


# student -> (solution cell, line, reason) of every line the round must list to review: solutions that
# still passed although they reach into internals (those that lost their points are not listed).
TO_REVIEW = {
    "touches_sys_modules_and_passes": [("relu", 2, scan.REVIEW_ATTRIBUTES["modules"])],
    "collects_garbage_and_passes": [("tanh", 1, scan.REVIEW_MODULES["gc"]), ("tanh", 2, scan.REVIEW_NAMES["gc"])],
    "reads_frames_and_passes": [("sigmoid", 4, scan.REVIEW_ATTRIBUTES["f_back"])],
    "rewrites_lib": [("identity", 1, scan.REVIEW_MODULES["handgrad.checks"])],
}


def handgrad_checks_file() -> str:
    import handgrad.checks

    return handgrad.checks.__file__


HONEST = {"reference": ok_except(),
          "buggy": ok_except(test_sigmoid_stable="error:CheckFailed", test_relu="error:CheckFailed")}


@pytest.fixture(scope="module")
def graded_round(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """The course after the round, the round's summary, and (student, cell) -> (status, score) from grades.csv."""
    course = copy_course(tmp_path_factory.mktemp("course"), f"source/{ID}",
                         *(f"submitted/{student}/{ID}" for student in HONEST))
    reference = nbformat.read(str(COURSE / "submitted" / "reference" / ID / f"{ID}.ipynb"), as_version=4)
    (course / "canary.txt").write_text("untouched")
    (course / "reports").mkdir()
    (course / "reports" / "grades.csv").write_text("")
    for student, (change, _) in faults(course).items():
        folder = course / "submitted" / student / ID
        folder.mkdir(parents=True)
        if isinstance(change, Plant):
            change.make(folder / f"{ID}.ipynb", course)
        elif isinstance(change, str):
            (folder / f"{ID}.ipynb").write_text(change)
        elif change is not None:
            notebook = nbformat.from_dict(reference)
            change(notebook)
            nbformat.write(notebook, str(folder / f"{ID}.ipynb"))
    # Generous enough for a cold torch import (and the integrity watch) on a busy machine; the endless loops
    # pay it in full.
    limits = Limits(cell_timeout=30, grace=5, data_bytes=2 << 30, processes=64)
    results, facts = run_round(course, [ID], jobs=2, limits=limits, isolation=ISOLATION)
    assert (course / "canary.txt").read_text() == "untouched"   # links planted by a student were not followed
    with open(course / "reports" / "grades.csv") as stream:
        rows = list(csv.DictReader(stream))
    return course, facts, {(row["student"], row["grade_id"]): (row["status"], float(row["score"])) for row in rows}


@pytest.fixture(scope="module")
def graded(graded_round: tuple[Path, dict, dict]) -> dict[tuple[str, str], tuple[str, float]]:
    return graded_round[2]


FAULTS = faults(Path("/nonexistent"))   # the names and expectations (paths only matter inside the fixture)
NEEDS_BUBBLEWRAP = {"reads_source", "reads_gradebook", "reads_other_student", "rewrites_lib", "writes_gradebook",
                    "writes_report"}


@pytest.mark.parametrize("student", sorted(FAULTS))
def test_fault_gets_its_status_and_score(graded: dict, student: str) -> None:
    if student in NEEDS_BUBBLEWRAP and ISOLATION != "bubblewrap":
        pytest.skip("without bubblewrap the kernel can read what the grading user can read (README)")
    expected = FAULTS[student][1]
    assert {cell: graded[(student, cell)] for cell in CELLS} == expected


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_students_are_unaffected(graded: dict, student: str) -> None:
    assert {cell: graded[(student, cell)] for cell in CELLS} == HONEST[student]


def test_every_student_has_every_cell(graded: dict) -> None:
    students = set(FAULTS) | set(HONEST)
    assert {key for key in graded} == {(s, c) for s in students for c in CELLS}


def test_submissions_not_graded_are_named_with_their_status(graded_round: tuple[Path, dict, dict]) -> None:
    _, facts, _ = graded_round
    expected = {f"{student}/{ID}": FAULTS[student][1][CELLS[0]][0] for student in FAULTS
                if FAULTS[student][1][CELLS[0]][0] in ("missing", "corrupt", "rejected")}
    assert {key: reason.split(":")[0] for key, reason in facts["not_graded"].items()} == expected
    assert all("never followed" in facts["not_graded"][key] for key, status in expected.items() if status == "rejected")


def test_a_rejected_link_to_the_source_shows_no_solution(graded_round: tuple[Path, dict, dict]) -> None:
    course, _, _ = graded_round
    for student in ("links_to_source", "links_folder_to_source", "links_to_other_student"):
        page = (course / "feedback" / student / ID / f"{ID}.html").read_text()
        assert "rejected" in page and "BEGIN SOLUTION" not in page and "self.state = z" not in page
        assert not (course / "autograded" / student).exists()


def test_passing_solutions_that_reach_into_internals_are_listed_to_review(
        graded_round: tuple[Path, dict, dict]) -> None:
    _, facts, _ = graded_round
    expected = {(student, cell, line, reason) for student, items in TO_REVIEW.items() for cell, line, reason in items
                if student not in NEEDS_BUBBLEWRAP or ISOLATION == "bubblewrap"}
    listed = {(item["student"], item["cell"], item["line"], item["reason"]) for item in facts["to_review"]}
    assert listed == expected
    assert all(item["assignment"] == ID and item["code"] for item in facts["to_review"])
