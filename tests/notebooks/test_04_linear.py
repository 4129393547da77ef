"""04_linear beyond its catalogue: the points the notebook promises, a transposed dW caught by values
when it has the right shape, and no solution line anywhere in what students see."""

from __future__ import annotations

import re

import pytest

from handgrad import checks
from handgrad.suites import linear as suite
from tests.notebooks import catalogue, harness

ASSIGNMENT = "04_linear"


def test_points_are_integers_and_about_eleven() -> None:
    points = harness.graded_points(ASSIGNMENT)
    assert set(points) == {"test_linear_init", "test_linear_forward", "test_linear_backward_dx",
                           "test_linear_backward_params", "test_linear_state"}
    assert all(p == int(p) and p > 0 for p in points.values())
    assert 10 <= sum(points.values()) <= 12


def test_square_transposed_dW_is_caught_by_values() -> None:
    """For in == out a transposed dW has the right shape: the suite's square cases must catch it anyway."""

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


def test_student_notebook_shows_no_solution_line() -> None:
    """What the release keeps (everything but solution blocks and hidden tests) holds no line of the solution."""
    released = []
    for cell in harness.source_notebook(ASSIGNMENT).cells:
        source = cell.source
        if harness.nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            source = harness.release_source(source)
        released.append(re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", source, flags=re.S))
    text = "\n".join(released)
    lines = catalogue.module(ASSIGNMENT)
    for line in (lines.STORE_X, lines.OUT, lines.DW, lines.DB, lines.DX_LINE, lines.B_INIT):
        assert line not in text, f"the release shows a solution line: {line}"
