"""03_loss beyond its catalogue: the points the notebook promises, failure messages that never reveal
the oracle's values, fixed stable rows that really break naive formulas, and the suite's oracles."""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F

from handgrad import checks
from handgrad.suites import loss as suite
from tests.notebooks import catalogue, harness

ASSIGNMENT = "03_loss"
LSE, SOFTMAX, FORWARD, STABLE, DERIVATIVE, SOFT = ("test_logsumexp", "test_softmax", "test_ce_forward",
                                                    "test_ce_stable", "test_ce_derivative", "test_ce_soft_targets")


def test_points_and_cells_as_documented() -> None:
    points = harness.graded_points(ASSIGNMENT)
    assert points == {LSE: 2, SOFTMAX: 2, FORWARD: 2, STABLE: 2, DERIVATIVE: 3, SOFT: 1}
    assert set(catalogue.solutions(ASSIGNMENT)) == {"logsumexp", "softmax", "softmax_cross_entropy"}
    # The introduction's table promises the same points.
    intro = harness.source_notebook(ASSIGNMENT).cells[0].source
    for row, value in (("`logsumexp(x)`", 2), ("`softmax(x)`", 2), ("forward(x, y)`", 2), ("... stable", 2),
                       ("derivative()`", 3), ("... soft labels", 1)):
        assert re.search(re.escape(row) + rf".*\| {value} \|", intro), row


def test_failure_message_does_not_reveal_expected_values() -> None:
    """The stable cell's oracle values (logsumexp of the fixed rows) never appear in a failure message."""
    bug = catalogue.load(ASSIGNMENT).bug("naive logsumexp (log(sum(exp(x))))")
    outcome = harness.run_graded(ASSIGNMENT, catalogue.apply(ASSIGNMENT, bug.edits))[STABLE]
    assert "largest error" in outcome or "NaN or inf" in outcome
    for value in suite.oracle_logsumexp(suite.STABLE_ROWS):
        assert f"{value:.3f}" not in outcome and repr(float(value)) not in outcome


def test_stable_rows_break_every_naive_formula() -> None:
    """The fixed stable rows overflow, underflow and defeat a batch-wide max (else the cell proves nothing)."""
    x = suite.STABLE_ROWS
    with np.errstate(all="ignore"):
        naive_lse = np.log(np.exp(x).sum(axis=1))
        batch_max = x.max() + np.log(np.exp(x - x.max()).sum(axis=1))
        naive_softmax = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert np.isposinf(naive_lse).any() and np.isneginf(naive_lse).any()
    assert np.isneginf(batch_max).any()
    assert np.isnan(naive_softmax).any()
    # log(softmax) of the target underflows to -inf for at least one row.
    exact = suite.oracle_softmax(x)[np.arange(len(x)), suite.STABLE_TARGETS]
    assert (exact == 0).any()


def test_one_hot_and_soft_oracles_agree_on_one_hot_targets() -> None:
    """F.cross_entropy with class indices (hard) and with probabilities (soft) give the same on one-hot rows."""
    generator = checks.rng("test.03.oracles")
    x, t = suite.draw_logits(generator, (5, 4)), suite.one_hot(generator, 5, 4)
    losses, grad = suite.oracle_loss(x, t)
    logits = torch.tensor(x, requires_grad=True)
    soft = F.cross_entropy(logits, torch.tensor(t), reduction="none")
    (soft_grad,) = torch.autograd.grad(soft.mean(), logits)
    np.testing.assert_allclose(losses, soft.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, soft_grad.numpy(), rtol=1e-12, atol=1e-15)


def test_soft_targets_are_probability_rows_and_not_one_hot() -> None:
    t = suite.soft_targets(checks.rng("test.03.soft"), 50, 6)
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-12)
    assert (t >= 0).all() and not ((t == 0) | (t == 1)).all()
