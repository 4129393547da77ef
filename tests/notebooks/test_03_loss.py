"""03_loss: the reference earns every point, the blank release none (without crashing), each
catalogued bug loses exactly the cells it should, correct solutions written differently keep
full marks, and a failing check explains without revealing."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from handgrad import checks
from handgrad.suites import loss as suite

from tests.notebooks import harness

ASSIGNMENT = "03_loss"
LSE, SOFTMAX, FORWARD, STABLE, DERIVATIVE, SOFT = ("test_logsumexp", "test_softmax", "test_ce_forward",
                                                    "test_ce_stable", "test_ce_derivative", "test_ce_soft_targets")
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


def function(name: str, body: str) -> str:
    """A whole replacement cell: ``def name(x):`` with the given body (lines without indentation)."""
    return f"def {name}(x):\n" + "".join(f"    {line}\n" for line in body.strip("\n").splitlines())


def criterion(forward: str, derivative: str) -> str:
    """A whole replacement SoftmaxCrossEntropy cell with the given method bodies (lines without indentation)."""
    def indent(body: str) -> str:
        return "".join(f"        {line}\n" for line in body.strip("\n").splitlines())
    return ("class SoftmaxCrossEntropy(Criterion):\n"
            f"    def forward(self, x, y):\n{indent(forward)}\n"
            f"    def derivative(self):\n{indent(derivative)}")


# The reference lines the catalogue rewrites.
LSE_MAX = "m = x.max(axis=1, keepdims=True)"
LSE_RETURN = "return m[:, 0] + np.log(np.exp(x - m).sum(axis=1))"
SM_EXP = "e = np.exp(x - x.max(axis=1, keepdims=True))"
SM_RETURN = "return e / e.sum(axis=1, keepdims=True)"
LOG_PROBS = "log_probs = self.logits - logsumexp(self.logits)[:, None]"
LOSS = "self.loss = -np.sum(self.labels * log_probs, axis=1)"
RETURN_LOSS = "return self.loss.copy()"
GRAD = "return (self.probs - self.labels) / self.logits.shape[0]"


def lse(old: str, new: str) -> tuple[str, str, str]:
    return ("logsumexp", old, new)


def sm(old: str, new: str) -> tuple[str, str, str]:
    return ("softmax", old, new)


def ce(old: str, new: str) -> tuple[str, str, str]:
    return ("softmax_cross_entropy", old, new)


# A class that keeps softmax(x) from the student's own softmax (so a softmax bug reaches derivative()).
CE_VIA_SOFTMAX = criterion("""
self.probs = softmax(x)
self.labels = np.array(y, dtype=np.float64)
return logsumexp(x) - np.sum(self.labels * x, axis=1)
""", "return (self.probs - self.labels) / len(self.labels)")

# name -> (the submission's changed cells, the graded cells it must lose)
BUGS: dict[str, tuple[dict[str, str], set[str]]] = {
    # stability
    "naive softmax (no max subtraction)": (edit(sm(SM_EXP, "e = np.exp(x)")), {STABLE}),
    "naive softmax, also used by the class for derivative()": (
        {**edit(sm(SM_EXP, "e = np.exp(x)")), "softmax_cross_entropy": CE_VIA_SOFTMAX}, {STABLE, DERIVATIVE}),
    "naive logsumexp (log(sum(exp(x))))": (
        {"logsumexp": function("logsumexp", "return np.log(np.sum(np.exp(x), axis=1))")}, {STABLE, DERIVATIVE}),
    "logsumexp shifted by the max of the whole batch, not of each row": (
        edit(lse(LSE_MAX, "m = np.full((len(x), 1), x.max())")), {STABLE, DERIVATIVE}),
    "loss as -log(softmax(x)) (softmax itself stable)": (
        edit(ce(LOSS, "self.loss = -np.sum(self.labels * np.log(softmax(self.logits)), axis=1)")), {STABLE}),
    "loss as -log(softmax(x) + 1e-12) (the epsilon patch)": (
        edit(ce(LOSS, "self.loss = -np.sum(self.labels * np.log(softmax(self.logits) + 1e-12), axis=1)")), {STABLE}),
    # the batch mean
    "derivative() without the 1/B": (edit(ce(GRAD, "return self.probs - self.labels")), {DERIVATIVE}),
    "derivative() divided by C instead of B": (
        edit(ce(GRAD, "return (self.probs - self.labels) / self.logits.shape[1]")), {DERIVATIVE, SOFT}),
    "forward returns the batch mean instead of per-sample losses": (
        edit(ce(RETURN_LOSS, "return self.loss.mean()")), {FORWARD, STABLE, SOFT}),
    "forward divides the per-sample losses by B": (
        edit(ce(RETURN_LOSS, "return self.loss / len(self.loss)")), {FORWARD}),
    "forward averages over the classes instead of summing": (
        edit(ce(LOSS, "self.loss = -np.mean(self.labels * log_probs, axis=1)")), {FORWARD, STABLE, SOFT}),
    # axes and shapes
    "logsumexp over the wrong axis (axis=0)": (
        {"logsumexp": function("logsumexp", """
m = x.max(axis=0, keepdims=True)
return m[0] + np.log(np.exp(x - m).sum(axis=0))""")}, {LSE, FORWARD, STABLE, DERIVATIVE, SOFT}),
    "logsumexp returns (B, 1) (the class copes with reshape)": (
        edit(lse(LSE_RETURN, "return m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))"),
             ce(LOG_PROBS, "log_probs = self.logits - logsumexp(self.logits).reshape(-1, 1)")), {LSE, STABLE}),
    "forward returns (B, 1) instead of (B,)": (
        edit(ce(LOSS, "self.loss = -np.sum(self.labels * log_probs, axis=1, keepdims=True)")),
        {FORWARD, STABLE, SOFT}),
    "softmax without keepdims (divides by a (B,) row of sums)": (
        edit(sm(SM_RETURN, "return e / e.sum(axis=1)")), {SOFTMAX, STABLE}),
    "softmax over the wrong axis (axis=0)": (
        edit(sm(SM_EXP, "e = np.exp(x - x.max(axis=0, keepdims=True))"),
             sm(SM_RETURN, "return e / e.sum(axis=0, keepdims=True)")),
        {SOFTMAX, STABLE}),
    "softmax normalised over the whole batch (np.sum without axis)": (
        edit(sm(SM_RETURN, "return e / np.sum(e)")), {SOFTMAX, STABLE}),
    # signs and formulas
    "derivative() with the sign flipped (t - softmax)": (
        edit(ce(GRAD, "return (self.labels - self.probs) / self.logits.shape[0]")), {DERIVATIVE, SOFT}),
    "derivative() from the logits instead of softmax": (
        edit(ce(GRAD, "return (self.logits - self.labels) / self.logits.shape[0]")), {DERIVATIVE, SOFT}),
    "hard labels only: the target picked with argmax": (
        {"softmax_cross_entropy": criterion("""
self.probs = softmax(x)
self.k = np.argmax(y, axis=1)
rows = np.arange(len(x))
return logsumexp(x) - x[rows, self.k]""", """
grad = self.probs.copy()
grad[np.arange(len(grad)), self.k] -= 1
return grad / len(grad)""")}, {SOFT}),
    # inputs modified in place
    "softmax modifies its input (x -= x.max(...))": (
        {"softmax": function("softmax", """
x -= x.max(axis=1, keepdims=True)
e = np.exp(x)
return e / e.sum(axis=1, keepdims=True)""")}, {SOFTMAX}),
    "logsumexp modifies its input": (
        {"logsumexp": function("logsumexp", """
m = x.max(axis=1, keepdims=True)
x -= m
return m[:, 0] + np.log(np.exp(x).sum(axis=1))""")}, {LSE, FORWARD, STABLE, DERIVATIVE, SOFT}),
    "forward modifies the logits in place": (
        edit(ce("self.logits = np.array(x, dtype=np.float64)",
                "x -= x.max(axis=1, keepdims=True)\n        self.logits = x")),
        {FORWARD}),
    # state between calls
    "stale state: derivative() computed once and cached": (
        edit(ce(GRAD, "if getattr(self, 'grad', None) is None:\n"
                      "            self.grad = (self.probs - self.labels) / self.logits.shape[0]\n"
                      "        return self.grad")), {DERIVATIVE}),
    "stale state: softmax stored on the first forward only": (
        edit(ce("self.probs = np.exp(log_probs)",
                "if getattr(self, 'probs', None) is None:\n            self.probs = np.exp(log_probs)")),
        {DERIVATIVE}),
    "derivative() updates the stored softmax in place (p -= y)": (
        edit(ce(GRAD, "grad = self.probs\n        grad -= self.labels\n"
                      "        grad /= len(grad)\n        return grad")),
        {DERIVATIVE}),
}

# The `buggy` sample submission (tools/make_samples.py): two typical mistakes, partial marks.
BUGGY_SUBMISSION = {**BUGS["naive softmax (no max subtraction)"][0], **BUGS["derivative() without the 1/B"][0]}

# Correct solutions written differently: full marks.
ALTERNATIVES: dict[str, dict[str, str]] = {
    "softmax as exp(x - logsumexp(x)[:, None])": {
        "softmax": function("softmax", "return np.exp(x - logsumexp(x)[:, None])")},
    "logsumexp with a (B,) max, np.log(np.sum(...)) + m": {
        "logsumexp": function("logsumexp", """
m = np.max(x, axis=1)
return np.log(np.sum(np.exp(x - m[:, None]), axis=1)) + m""")},
    "logsumexp via np.logaddexp.reduce": {
        "logsumexp": function("logsumexp", "return np.logaddexp.reduce(x, axis=1)")},
    "softmax dividing by sums[:, None]": edit(sm(SM_RETURN, "return e / np.sum(e, axis=1)[:, None]")),
    "class from softmax(): (softmax - y) / len(y), loss = lse - sum(y * x)": {
        "softmax_cross_entropy": CE_VIA_SOFTMAX},
    "class keeping references to x and y (no copies)": {"softmax_cross_entropy": criterion("""
self.x, self.y = x, y
return -np.sum(y * (x - logsumexp(x)[:, None]), axis=1)""", "return (softmax(self.x) - self.y) / len(self.y)")},
    "class storing the log-probabilities, loss via einsum": {"softmax_cross_entropy": criterion("""
self.log_p = x - logsumexp(x).reshape(-1, 1)
self.t = np.asarray(y, dtype=float)
return -np.einsum('bc,bc->b', self.t, self.log_p)""", "return (np.exp(self.log_p) - self.t) / self.t.shape[0]")},
}


def test_reference_earns_every_point() -> None:
    assert harness.run_graded(ASSIGNMENT) == {gid: "ok" for gid in harness.graded_points(ASSIGNMENT)}


def test_points_and_cells_as_documented() -> None:
    points = harness.graded_points(ASSIGNMENT)
    assert points == {LSE: 2, SOFTMAX: 2, FORWARD: 2, STABLE: 2, DERIVATIVE: 3, SOFT: 1}
    assert set(SOLUTIONS) == {"logsumexp", "softmax", "softmax_cross_entropy"}
    # The introduction's table promises the same points.
    intro = NOTEBOOK.cells[0].source
    for row, value in (("`logsumexp(x)`", 2), ("`softmax(x)`", 2), ("forward(x, y)`", 2), ("... stable", 2),
                       ("derivative()`", 3), ("... soft labels", 1)):
        assert re.search(re.escape(row) + rf".*\| {value} \|", intro), row


def test_blank_release_scores_zero_without_crashing() -> None:
    blank = {gid: harness.release_source(source) for gid, source in SOLUTIONS.items()}
    assert all("NotImplementedError" in s and "BEGIN SOLUTION" not in s for s in blank.values())
    outcomes = harness.run_graded(ASSIGNMENT, blank)
    assert set(outcomes) == set(harness.graded_points(ASSIGNMENT))
    assert all(outcome.startswith("CheckFailed") and "not implemented yet" in outcome
               for outcome in outcomes.values()), outcomes


@pytest.mark.parametrize("bug", BUGS)
def test_bug_loses_points(bug: str) -> None:
    cells, must_lose = BUGS[bug]
    lost = harness.lost_points(ASSIGNMENT, cells)
    assert set(lost) == must_lose, f"{bug}: lost {sorted(lost)}, expected {sorted(must_lose)}"


def test_buggy_sample_earns_partial_marks() -> None:
    assert set(harness.lost_points(ASSIGNMENT, BUGGY_SUBMISSION)) == {STABLE, DERIVATIVE}


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_equivalent_solution_keeps_full_marks(alternative: str) -> None:
    assert harness.lost_points(ASSIGNMENT, ALTERNATIVES[alternative]) == {}


@pytest.mark.parametrize(("bug", "cell", "words"), [
    ("derivative() without the 1/B", DERIVATIVE, "gradient of the SUM"),
    ("derivative() with the sign flipped (t - softmax)", DERIVATIVE, "sign is flipped"),
    ("derivative() divided by C instead of B", DERIVATIVE, "divided by C"),
    ("forward divides the per-sample losses by B", FORWARD, "divided by B"),
    ("forward averages over the classes instead of summing", FORWARD, "mean over the classes"),
    ("forward returns the batch mean instead of per-sample losses", FORWARD, "wrong shape"),
    ("forward returns (B, 1) instead of (B,)", FORWARD, "wrong shape"),
    ("naive softmax (no max subtraction)", STABLE, "NaN or inf"),
    ("loss as -log(softmax(x)) (softmax itself stable)", STABLE, "never as log(softmax(x))"),
    ("softmax modifies its input (x -= x.max(...))", SOFTMAX, "modified an array it was given"),
    ("stale state: derivative() computed once and cached", DERIVATIVE, "LAST forward"),
    ("derivative() updates the stored softmax in place (p -= y)", DERIVATIVE, "second of two"),
    ("hard labels only: the target picked with argmax", SOFT, "soft labels"),
    ("derivative() with the sign flipped (t - softmax)", SOFT, "sign is flipped"),
    ("forward averages over the classes instead of summing", STABLE, "mean over the classes"),
])
def test_failure_names_the_mistake(bug: str, cell: str, words: str) -> None:
    outcome = harness.run_graded(ASSIGNMENT, BUGS[bug][0])[cell]
    assert words in outcome, outcome


def test_failure_message_does_not_reveal_expected_values() -> None:
    """The stable cell's oracle values (logsumexp of the fixed rows) never appear in a failure message."""
    outcome = harness.run_graded(ASSIGNMENT, BUGS["naive logsumexp (log(sum(exp(x))))"][0])[STABLE]
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
