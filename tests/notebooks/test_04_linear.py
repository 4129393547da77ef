"""04_linear: the reference earns every point, each catalogued bug loses the points it should,
equivalent solutions keep full marks, the blank release scores zero without crashing, no
solution leaks into the student's notebook, and the notebook grades in seconds."""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.notebooks import harness

ASSIGNMENT = "04_linear"
INIT, FORWARD, DX, PARAMS, STATE = ("test_linear_init", "test_linear_forward", "test_linear_backward_dx",
                                    "test_linear_backward_params", "test_linear_state")
NOTEBOOK = harness.source_notebook(ASSIGNMENT)
SOLUTIONS = {harness.nbgrader_meta(c)["grade_id"]: c.source for c in NOTEBOOK.cells
             if c.cell_type == "code" and harness.nbgrader_meta(c).get("solution")}


def edit(*changes: tuple[str, str, str]) -> dict[str, str]:
    """Solution cells with (grade_id, old, new) text replacements; each ``old`` must occur in the reference."""
    cells: dict[str, str] = {}
    for grade_id, old, new in changes:
        source = cells.get(grade_id, SOLUTIONS[grade_id])
        assert old in source, f"the reference cell {grade_id!r} no longer contains {old!r}: update the catalogue"
        cells[grade_id] = source.replace(old, new)
    return cells


# The reference lines the catalogue rewrites.
W_INIT = "self.W = np.array(weight_init_fn(in_feature, out_feature), dtype=np.float64)"
B_INIT = "self.b = np.array(bias_init_fn(out_feature), dtype=np.float64).reshape(1, out_feature)"
STORE_X = "self.x = np.array(x, dtype=np.float64)      # a copy"
OUT = "return self.x @ self.W + self.b"
DW = "self.dW = self.x.T @ delta"
DB = "self.db = delta.sum(axis=0, keepdims=True)"
DX_LINE = "return delta @ self.W.T"


def linear(old: str, new: str) -> tuple[str, str, str]:
    return ("linear", old, new)


def backward(old: str, new: str) -> tuple[str, str, str]:
    return ("linear_backward", old, new)


# name -> (the submission's changed cells, the graded cells it must lose)
BUGS: dict[str, tuple[dict[str, str], set[str]]] = {
    # dW
    "dW transposed (delta.T @ x)": (edit(backward(DW, "self.dW = delta.T @ self.x")), {PARAMS, STATE}),
    "dW from the layer's output instead of its input": (
        edit(linear(OUT, "self.out = self.x @ self.W + self.b\n        return self.out"),
             backward(DW, "self.dW = self.out.T @ delta")), {PARAMS, STATE}),
    "dW with a sign error": (edit(backward(DW, "self.dW = -(self.x.T @ delta)")), {PARAMS, STATE}),
    # db
    "db not summed over the batch (B, out)": (edit(backward(DB, "self.db = delta.copy()")), {PARAMS, STATE}),
    "db of shape (out,) instead of (1, out)": (edit(backward(DB, "self.db = delta.sum(axis=0)")), {PARAMS, STATE}),
    "db as the batch mean": (edit(backward(DB, "self.db = delta.mean(axis=0, keepdims=True)")), {PARAMS, STATE}),
    # the 1/B
    "dW and db divided by B": (
        edit(backward(DW, "self.dW = self.x.T @ delta / delta.shape[0]"),
             backward(DB, "self.db = delta.sum(axis=0, keepdims=True) / delta.shape[0]")), {PARAMS, STATE}),
    "delta divided by B first (dx too)": (
        edit(backward(DW, "delta = delta / delta.shape[0]\n    " + DW)), {DX, PARAMS, STATE}),
    # dx
    "dx = delta @ W (wrong transpose)": (edit(backward(DX_LINE, "return delta @ self.W")), {DX, PARAMS, STATE}),
    "dx summed over the batch": (
        edit(backward(DX_LINE, "return delta.sum(axis=0, keepdims=True) @ self.W.T")), {DX, STATE}),
    # state
    "dW, db accumulated (+=) instead of overwritten": (
        edit(backward(DW, "self.dW += self.x.T @ delta"), backward(DB, "self.db += delta.sum(axis=0, keepdims=True)")),
        {STATE}),
    "x stored on the first forward only (stale input)": (
        edit(linear(STORE_X, "if self.x is None:\n            self.x = np.array(x, dtype=np.float64)")), {STATE}),
    "x never stored; backward reads a global x": (
        edit(linear(STORE_X, "pass"), linear(OUT, "return x @ self.W + self.b"),
             backward(DW, "self.dW = x.T @ delta")), {DX, PARAMS, STATE}),
    "W updated inside backward": (
        edit(backward(DX_LINE, "dx = delta @ self.W.T\n    self.W = self.W - 0.1 * self.dW\n    return dx")), {STATE}),
    # in place
    "delta modified in place (mean/sum juggling)": (
        edit(backward(DW, "delta *= delta.shape[0]\n    self.dW = self.x.T @ delta / delta.shape[0]"),
             backward(DB, "self.db = delta.sum(axis=0, keepdims=True) / delta.shape[0]"),
             backward(DX_LINE, "return delta @ self.W.T / delta.shape[0]")), {DX}),
    "the caller's x modified in place through the stored reference": (
        edit(linear(STORE_X, "self.x = x"),
             backward(DW, "self.x *= delta.shape[0]\n    self.dW = self.x.T @ delta / delta.shape[0]")), {DX, STATE}),
    # __init__ and forward
    "b stored as (out,)": (edit(linear(B_INIT, B_INIT.replace(".reshape(1, out_feature)", ".reshape(out_feature)"))),
                           {INIT}),
    "b stored as bias_init_fn returns it": (edit(linear(B_INIT, B_INIT.replace(".reshape(1, out_feature)", ""))),
                                            {INIT}),
    "W asked for as (out, in) and transposed": (
        edit(linear(W_INIT, "self.W = np.array(weight_init_fn(out_feature, in_feature), dtype=np.float64).T")),
        {INIT, FORWARD, DX, STATE}),
    "momentum buffers not zeros": (
        edit(linear("self.momentum_W = np.zeros_like(self.W)", "self.momentum_W = None"),
             linear("self.momentum_b = np.zeros_like(self.b)", "self.momentum_b = np.ones_like(self.b)")), {INIT}),
    "dW not initialised": (edit(linear("self.dW = np.zeros_like(self.W)", "self.dW = None")), {INIT}),
    "forward without the bias": (edit(linear(OUT, "return self.x @ self.W")), {FORWARD}),
    "forward uses copies of W, b kept from __init__": (
        edit(linear("self.x = None", "self.x = None\n        self._W0, self._b0 = self.W.copy(), self.b.copy()"),
             linear(OUT, "return self.x @ self._W0 + self._b0")), {FORWARD}),
}

# The `buggy` sample submission (tools/make_samples.py): two typical mistakes, partial marks.
BUGGY_SUBMISSION = {**BUGS["forward without the bias"][0], **BUGS["dW, db accumulated (+=) instead of overwritten"][0]}

# Equivalent solutions: full marks.
ALTERNATIVES: dict[str, dict[str, str]] = {
    "db = ones(1, B) @ delta": edit(backward(DB, "self.db = np.ones((1, delta.shape[0])) @ delta")),
    "dW via np.einsum": edit(backward(DW, "self.dW = np.einsum('bi,bo->io', self.x, delta)")),
    "dW as a sum of per-sample outer products": edit(
        backward(DW, "self.dW = sum(np.outer(xn, dn) for xn, dn in zip(self.x, delta))")),
    "dx = (W @ delta.T).T": edit(backward(DX_LINE, "return (self.W @ delta.T).T")),
    "forward via np.dot": edit(linear(OUT, "return np.dot(x, self.W) + self.b")),
    "x stored without a copy": edit(linear(STORE_X, "self.x = x")),
    "b via np.atleast_2d, W via np.asarray": edit(
        linear(B_INIT, "self.b = np.atleast_2d(bias_init_fn(out_feature)).astype(np.float64)"),
        linear(W_INIT, "self.W = np.asarray(weight_init_fn(in_feature, out_feature), dtype=np.float64)")),
    "db summed then reshaped": edit(backward(DB, "self.db = delta.sum(axis=0).reshape(1, -1)")),
}


def test_reference_earns_every_point() -> None:
    assert harness.run_graded(ASSIGNMENT) == {gid: "ok" for gid in harness.graded_points(ASSIGNMENT)}


def test_points_are_integers_and_about_eleven() -> None:
    points = harness.graded_points(ASSIGNMENT)
    assert set(points) == {INIT, FORWARD, DX, PARAMS, STATE}
    assert all(p == int(p) and p > 0 for p in points.values())
    assert 10 <= sum(points.values()) <= 12


def test_blank_release_scores_zero_without_crashing() -> None:
    blank = {gid: harness.release_source(source) for gid, source in SOLUTIONS.items()}
    assert all("NotImplementedError" in s and "BEGIN SOLUTION" not in s for s in blank.values())
    outcomes = harness.run_graded(ASSIGNMENT, blank)
    assert all(outcome.startswith("CheckFailed") for outcome in outcomes.values()), outcomes
    assert all("not implemented yet" in outcome for outcome in outcomes.values()), outcomes


@pytest.mark.parametrize("bug", BUGS)
def test_bug_loses_points(bug: str) -> None:
    cells, must_lose = BUGS[bug]
    lost = harness.lost_points(ASSIGNMENT, cells)
    assert set(lost) == must_lose, f"{bug}: lost {sorted(lost)}, expected {sorted(must_lose)}"


def test_buggy_sample_earns_partial_marks() -> None:
    assert set(harness.lost_points(ASSIGNMENT, BUGGY_SUBMISSION)) == {FORWARD, STATE}


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_equivalent_solution_keeps_full_marks(alternative: str) -> None:
    assert harness.lost_points(ASSIGNMENT, ALTERNATIVES[alternative]) == {}


@pytest.mark.parametrize(("bug", "cell", "words"), [
    ("dW transposed (delta.T @ x)", PARAMS, "transposed"),
    ("dW from the layer's output instead of its input", PARAMS, "layer's output"),
    ("dW and db divided by B", PARAMS, "divided by B"),
    ("dW, db accumulated (+=) instead of overwritten", STATE, "must overwrite"),
    ("db of shape (out,) instead of (1, out)", PARAMS, "keepdims"),
    ("db not summed over the batch (B, out)", PARAMS, "sum delta over the batch"),
    ("x stored on the first forward only (stale input)", STATE, "FIRST forward"),
    ("delta modified in place (mean/sum juggling)", DX, "modified an array it was given"),
    ("forward without the bias", FORWARD, "bias is missing"),
    ("b stored as (out,)", INIT, "(1, out)"),
])
def test_failure_names_the_mistake(bug: str, cell: str, words: str) -> None:
    outcome = harness.run_graded(ASSIGNMENT, BUGS[bug][0])[cell]
    assert words in outcome, outcome


def test_square_transposed_dW_is_caught_by_values() -> None:
    """For in == out a transposed dW has the right shape: the suite's square cases must catch it anyway."""
    from handgrad import checks
    from handgrad.suites import linear as suite

    class Transposed:
        def __init__(self, d_in, d_out, weight_init_fn, bias_init_fn):
            self.W = weight_init_fn(d_in, d_out)
            self.b = bias_init_fn(d_out).reshape(1, d_out)

        def forward(self, x):
            self.x = x
            return x @ self.W + self.b

        def backward(self, delta):
            self.dW, self.db = (self.x.T @ delta).T, delta.sum(axis=0, keepdims=True)
            return delta @ self.W.T

    case = suite.Case("test.square", square=True)
    assert case.d_in == case.d_out
    layer, *_ = suite._forward_backward(case, Transposed)
    with pytest.raises(checks.CheckFailed, match="transposed"):
        suite._check_params("test.square", layer, case, what="square")


def test_student_notebook_shows_no_solution_or_hidden_test() -> None:
    """What the release keeps (everything but solution blocks and hidden tests) holds no solution line."""
    released = []
    for cell in NOTEBOOK.cells:
        source = cell.source
        if harness.nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            source = harness.release_source(source)
        source = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", source, flags=re.S)
        released.append(source)
    text = "\n".join(released)
    for line in (STORE_X, OUT, DW, DB, DX_LINE, B_INIT):
        assert line not in text, f"the release shows a solution line: {line}"
    assert "handgrad.suites" not in text


def test_graded_cells_go_through_the_suite() -> None:
    """Hidden tests call the suite's check helpers (recorded, judged outside the kernel), never a bare assert."""
    for cell in NOTEBOOK.cells:
        if harness.nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
            assert "from handgrad.suites import linear" in cell.source
            assert not re.search(r"^\s*assert\b", cell.source, re.M)


def test_notebook_runs_under_grading_in_seconds(tmp_path) -> None:
    """The whole notebook executes without an error under NBGRADER_EXECUTION; the training cell takes seconds."""
    nbclient = pytest.importorskip("nbclient")
    from handgrad import data

    try:
        data.find("fashion-mnist", download=False)
    except data.DataNotFoundError as error:
        pytest.skip(f"Fashion-MNIST not available: {error}")
    notebook = harness.source_notebook(ASSIGNMENT)
    env_before = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"       # the kernel inherits it
    try:
        client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        started = time.perf_counter()
        client.execute()
        total = time.perf_counter() - started
    finally:
        if env_before is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = env_before
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    seconds = float(re.search(r"epochs on 2000 images in ([\d.]+) s", text).group(1))
    assert seconds < 10.0, f"training under grading took {seconds:.1f} s"
    assert total < 120.0
