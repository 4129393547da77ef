"""Delegation and honest accidents in a real round (issue 9, points 2-4), beside honest students.

One round grades 02_activations and 04_linear for the reference and buggy samples and for
students made from the reference: answers handed to a reference class of the assignment
(reached plainly, through importlib with a split name, ``__import__``, ``sys.modules``,
``getattr`` on a module) or to torch (a string-built name, only when graded) score 0 with
status ``delegated``, never more than a wrong answer; correct answers written differently
(numpy under another name, ``np.einsum``, ``np.vectorize``, own helpers, an unused
``import torch``) keep full marks; and a correct submission full of honest accidents (autograd
off, another default dtype, print options, error handling, reseeded RNGs, shadowed and
replaced builtins, overwritten ``plt`` functions) gets full marks in two rounds, row for row.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from handgrad.grading.bubblewrap import bubblewrap_works
from handgrad.grading.limits import Limits
from handgrad.grading.round import run_round

COURSE = Path(__file__).resolve().parents[2]
ISOLATION = "bubblewrap" if bubblewrap_works() else "limits"
A02, A04 = "02_activations", "04_linear"


def graded_points(assignment: str) -> dict[str, int]:
    """grade_id -> points of each autograded cell of the source notebook."""
    notebook = nbformat.read(str(COURSE / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in notebook.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


CELLS = {A02: graded_points(A02), A04: graded_points(A04)}
Change = Callable[[nbformat.NotebookNode], None]


def cell_of(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def replace(**sources: str) -> Change:
    """Solution cells (by grade_id) replaced by new sources."""
    def change(notebook: nbformat.NotebookNode) -> None:
        for grade_id, source in sources.items():
            cell_of(notebook, grade_id).source = source
    return change


def prepend(**sources: str) -> Change:
    """Code run at the top of solution cells (by grade_id), before the reference answer."""
    def change(notebook: nbformat.NotebookNode) -> None:
        for grade_id, source in sources.items():
            cell = cell_of(notebook, grade_id)
            cell.source = source + "\n" + cell.source
    return change


def expect(assignment: str, status: str = "ok", **lost: str) -> dict[str, tuple[str, float]]:
    """(status, score) per graded cell: full marks except the named cells (0 with their status)."""
    return {cell: (lost[cell], 0.0) if cell in lost else (status, float(points))
            for cell, points in CELLS[assignment].items()}


RELU_HONEST_DERIVATIVE = "    def derivative(self):\n        return (self.state > 0) * 1.0\n"


def relu_by(body: str, header: str = "") -> str:
    """A ReLU whose forward computes ``body`` (an expression of z) and stores it."""
    return (f"{header}class ReLU(Activation):\n    def forward(self, z):\n        self.state = {body}\n"
            f"        return self.state.copy()\n" + RELU_HONEST_DERIVATIVE)


BLOCK_ROUTES = {
    "block_plain": "from handgrad.blocks import ReLU\n",
    "block_importlib_split": "import importlib\nReLU = getattr(importlib.import_module('handgrad.' + 'blo' + 'cks'), "
                             "'Re' + 'LU')\n",
    "block_dunder_import": "ReLU = __import__('handgrad.blocks', fromlist=['ReLU']).ReLU\n",
    "block_sys_modules": ("import sys\nimport handgrad.blocks\n"
                          "ReLU = sys.modules['handgrad.' + 'blocks'].__dict__['ReLU']\n"),
    "block_getattr_module": ("import handgrad\nimport handgrad.blocks\n"
                             "ReLU = getattr(getattr(handgrad, 'blo' + 'cks'), 'ReLU')\n"),
}

ACCIDENTS = ("import builtins, random\nimport torch\nimport matplotlib.pyplot as plt\n"
             "torch.manual_seed(123); np.random.seed(7); random.seed(9)      # reseeded for a plot\n"
             "torch.set_grad_enabled(False)                                   # 'faster'\n"
             "torch.set_default_dtype(torch.float64)\n"
             "torch.set_printoptions(precision=2); np.set_printoptions(precision=2, suppress=True)\n"
             "np.seterr(all='raise')\n"
             "sum, max, input, list, sorted = 0, None, 'x', [1, 2], None    # names reused in the notebook\n"
             "plt.show = lambda *a, **k: None; plt.plot = lambda *a, **k: None\n")
ACCIDENT_BUILTIN = "import builtins\nbuiltins.sum = lambda *a, **k: 0   # replaced for everyone\n"


def fixtures_02() -> dict[str, tuple[Change, dict[str, tuple[str, float]]]]:
    """student -> (change to the reference 02 submission, expected cells)."""
    found: dict[str, tuple[Change, dict[str, tuple[str, float]]]] = {
        name: (replace(relu=route), expect(A02, test_relu="delegated")) for name, route in BLOCK_ROUTES.items()}
    found["torch_string_built"] = (replace(relu=relu_by(
        "getattr(T, 're' + 'lu')(getattr(T, 'ten' + 'sor')(z)).numpy()",
        header="T = getattr(__import__('buil' + 'tins'), '__imp' + 'ort__')('to' + 'rch')\n")),
        expect(A02, test_relu="delegated"))
    found["torch_only_when_graded"] = (replace(relu=(
        "import os, sys\nclass ReLU(Activation):\n    def forward(self, z):\n"
        "        if os.environ.get('NBGRADER_EXECUTION') or 'handgrad.suites' in sys.modules:\n"
        "            self.state = sys.modules['torch'].relu(sys.modules['torch'].tensor(z)).numpy()\n"
        "        else:\n            self.state = np.zeros_like(z)\n"
        "        return self.state.copy()\n" + RELU_HONEST_DERIVATIVE)), expect(A02, test_relu="delegated"))
    found["wrong_relu"] = (replace(relu=relu_by("np.abs(z)")), expect(A02, test_relu="error:CheckFailed"))
    found["numpy_styles"] = (replace(
        identity=("import numpy as xp\nclass Identity(Activation):\n    def forward(self, z):\n"
                  "        self.state = xp.array(z, dtype=xp.float64)\n        return self.state.copy()\n"
                  "    def derivative(self):\n        return xp.ones_like(self.state)\n"),
        sigmoid=("import math\n_scalar = np.vectorize(lambda v: 1.0 / (1.0 + math.exp(-v)) if v >= 0 "
                 "else math.exp(v) / (1.0 + math.exp(v)), otypes=[np.float64])\n"
                 "class Sigmoid(Activation):\n    def forward(self, z):\n"
                 "        self.state = _scalar(np.asarray(z, dtype=np.float64))\n        return self.state.copy()\n"
                 "    def derivative(self):\n        return np.einsum('ij,ij->ij', self.state, 1.0 - self.state)\n"),
        tanh=("def _square(a):\n    return np.einsum('ij,ij->ij', a, a)\n"
              "class Tanh(Activation):\n    def forward(self, z):\n        self.state = np.tanh(z)\n"
              "        return self.state.copy()\n"
              "    def derivative(self):\n        return 1.0 - _square(self.state)\n"),
        relu=("def positive_part(a):\n    return a * (a > 0)\n\n"
              "def step(a):\n    return np.greater(a, 0).astype(float)\n"
              "class ReLU(Activation):\n    def forward(self, z):\n        self.state = positive_part(np.array(z))\n"
              "        return self.state.copy()\n    def derivative(self):\n        return step(self.state)\n")),
        expect(A02))
    found["unused_torch"] = (prepend(relu="import torch\nimport torch.nn.functional as F   # used in my plots",
                                     sigmoid="from torch import nn"), expect(A02))
    found["accidents"] = (prepend(identity=ACCIDENTS, tanh=ACCIDENT_BUILTIN), expect(A02))
    return found


LINEAR_BY_BLOCK = "from handgrad.blocks import Linear\n"
BACKWARD_EINSUM = ("def backward(self, delta):\n    self.dW = np.einsum('bi,bo->io', self.x, delta)\n"
                   "    self.db = np.einsum('bo->o', delta)[None, :]\n"
                   "    return np.einsum('bo,io->bi', delta, self.W)\n\n"
                   "Linear.backward = backward\n")


def fixtures_04() -> dict[str, tuple[Change, dict[str, tuple[str, float]]]]:
    """student -> (change to the reference 04 submission, expected cells)."""
    every = {cell: "delegated" for cell in CELLS[A04]}
    forward_by_torch = ("import sys\nclass Linear:\n"
                        "    def __init__(self, in_feature, out_feature, weight_init_fn, bias_init_fn):\n"
                        "        self.W = np.array(weight_init_fn(in_feature, out_feature), dtype=np.float64)\n"
                        "        self.b = np.array(bias_init_fn(out_feature), dtype=np.float64)"
                        ".reshape(1, out_feature)\n"
                        "        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)\n"
                        "        self.momentum_W, self.momentum_b = np.zeros_like(self.W), np.zeros_like(self.b)\n"
                        "        self.x = None\n"
                        "    def forward(self, x):\n        self.x = np.array(x, dtype=np.float64)\n"
                        "        T = sys.modules['to' + 'rch']\n"
                        "        return getattr(T, 'add')(getattr(T, 'mat' + 'mul')(T.from_numpy(self.x), "
                        "T.from_numpy(self.W)), T.from_numpy(self.b)).numpy()\n")
    return {
        "block_linear": (replace(linear=LINEAR_BY_BLOCK), expect(A04, **every)),
        "torch_linear_forward": (replace(linear=forward_by_torch), None),   # expectation set below
        "numpy_styles": (replace(linear_backward=BACKWARD_EINSUM), expect(A04)),
        "unused_torch": (prepend(linear="import torch"), expect(A04)),
        "accidents": (prepend(linear=ACCIDENTS, linear_backward=ACCIDENT_BUILTIN), expect(A04)),
    }


FIXTURES = {A02: fixtures_02(), A04: fixtures_04()}
# Every check of 04 after init runs forward first, so handing forward to torch loses all of them.
FIXTURES[A04]["torch_linear_forward"] = (FIXTURES[A04]["torch_linear_forward"][0], expect(
    A04, **{cell: "delegated" for cell in CELLS[A04] if cell != "test_linear_init"}))
HONEST = ("reference", "buggy")


def build_course(root: Path, students: dict[str, set[str]]) -> Path:
    """A course folder with 02 and 04 and the given students (student -> assignments they hand in)."""
    course = root
    shutil.copy(COURSE / "nbgrader_config.py", course)
    for assignment in (A02, A04):
        shutil.copytree(COURSE / "source" / assignment, course / "source" / assignment)
        reference = nbformat.read(str(COURSE / "submitted" / "reference" / assignment / f"{assignment}.ipynb"),
                                  as_version=4)
        for student in HONEST:
            shutil.copytree(COURSE / "submitted" / student / assignment, course / "submitted" / student / assignment)
        for student, (change, _) in FIXTURES[assignment].items():
            if assignment not in students.get(student, set()):
                continue
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            notebook = nbformat.from_dict(reference)
            change(notebook)
            nbformat.write(notebook, str(folder / f"{assignment}.ipynb"))
    return course


MESSAGES: dict[tuple[str, str, str], str] = {}   # (student, assignment, cell) -> the verdict's message


def grade(course: Path) -> dict[tuple[str, str, str], tuple[str, float]]:
    """Run one round; (student, assignment, cell) -> (status, score) from reports/grades.csv."""
    limits = Limits(cell_timeout=30, grace=2, data_bytes=2 << 30, processes=64)
    results, _ = run_round(course, [A02, A04], jobs=2, limits=limits, isolation=ISOLATION)
    for result in results:
        for verdict in result.cells:
            MESSAGES[(result.student, result.assignment, verdict.grade_id)] = verdict.message[:400]
    with open(course / "reports" / "grades.csv") as stream:
        return {(row["student"], row["assignment"], row["grade_id"]): (row["status"], float(row["score"]))
                for row in csv.DictReader(stream)}


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """The full round, and a second round (another clock, the same salt) of the accidents beside the reference."""
    everyone: dict[str, set[str]] = {}
    for assignment, fixtures in FIXTURES.items():
        for student in fixtures:
            everyone.setdefault(student, set()).add(assignment)
    first = grade(build_course(tmp_path_factory.mktemp("course"), everyone))
    second = grade(build_course(tmp_path_factory.mktemp("again"), {"accidents": {A02, A04}}))
    return first, second


def cells(graded: dict, student: str, assignment: str) -> dict[str, tuple[str, float]]:
    return {cell: graded[(student, assignment, cell)] for cell in CELLS[assignment]}


CASES = [(assignment, student) for assignment, fixtures in FIXTURES.items() for student in sorted(fixtures)]


@pytest.mark.parametrize(("assignment", "student"), CASES)
def test_fixture_gets_its_status_and_score(rounds: tuple[dict, dict], assignment: str, student: str) -> None:
    got, expected = cells(rounds[0], student, assignment), FIXTURES[assignment][student][1]
    why = {cell: MESSAGES.get((student, assignment, cell)) for cell in got if got[cell] != expected[cell]}
    assert got == expected, why
    for cell, (status, _) in got.items():
        if status == "delegated":   # the message names what was used
            assert any(name in MESSAGES[(student, assignment, cell)] for name in ("torch", "handgrad.blocks."))


@pytest.mark.parametrize(("assignment", "student"), [c for c in CASES if c[1].startswith(("block", "torch"))])
def test_delegation_never_scores_more_than_a_wrong_answer(rounds: tuple[dict, dict], assignment: str,
                                                          student: str) -> None:
    graded = rounds[0]
    for cell, (status, score) in cells(graded, student, assignment).items():
        if status == "delegated":
            wrong = [graded[(s, assignment, cell)][1] for s in ("buggy", "wrong_relu")
                     if (s, assignment, cell) in graded and graded[(s, assignment, cell)][0] != "ok"]
            assert score == 0.0 and all(score <= w for w in wrong)


@pytest.mark.parametrize("assignment", [A02, A04])
def test_honest_students_are_unaffected(rounds: tuple[dict, dict], assignment: str) -> None:
    graded = rounds[0]
    assert cells(graded, "reference", assignment) == expect(assignment)
    buggy = cells(graded, "buggy", assignment)
    assert 0 < sum(score for _, score in buggy.values()) < sum(CELLS[assignment].values())
    assert {status for status, _ in buggy.values()} <= {"ok", "failed", "error:CheckFailed"}


@pytest.mark.parametrize("assignment", [A02, A04])
def test_honest_accidents_keep_full_marks_in_two_rounds(rounds: tuple[dict, dict], assignment: str) -> None:
    first, second = rounds
    got = cells(first, "accidents", assignment)
    assert got == expect(assignment), {cell: MESSAGES.get(("accidents", assignment, cell)) for cell in got}
    assert cells(second, "accidents", assignment) == cells(first, "accidents", assignment)
    assert cells(second, "reference", assignment) == cells(first, "reference", assignment)
