"""Hidden tests of 03_loss: logsumexp, softmax and SoftmaxCrossEntropy against torch.

Oracles, computed here in float64: ``torch.logsumexp`` and ``torch.softmax`` (row-wise),
``F.cross_entropy(x, target, reduction="none")`` for the per-sample losses and
``torch.autograd`` of its ``.mean()`` for ``derivative()``. Hard (one-hot) labels go to
``F.cross_entropy`` as class indices; soft labels (rows of probabilities) go as class
probabilities, which is ``-(t * log_softmax(x)).sum(1)``.

Targets: the notebook accepts any row of non-negative numbers summing to 1 (one-hot rows
are the usual case, label smoothing the other) and documents it; only
:func:`check_soft_targets` draws non-one-hot rows, so a solution written for hard labels
alone loses that one cell.

What each check owns, so that one bug costs its own cell and not every cell after it:
- :func:`check_logsumexp`, :func:`check_softmax`: moderate logits of many shapes, input not mutated.
- :func:`check_forward`: per-sample losses of moderate logits, inputs not mutated.
- :func:`check_stable`: logits up to |1e4|, rows of very different size; logsumexp and
  softmax on whole batches, the loss one row at a time (a batch of 1, so that a wrong
  batch mean is the business of the forward and derivative checks only).
- :func:`check_derivative`: the gradient of the mean, large logits included; a second
  forward replaces the state; a second ``derivative()`` gives the same; nothing mutated.
- :func:`check_soft_targets`: forward and derivative with soft labels, one row at a time.
Every value is judged by the check helpers (recorded for the grader), none by a bare assert.
When a value is wrong in a known way (divided by B, B times too large, a sign flipped), the
hint says so; it is computed here from the oracle and never prints expected values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from handgrad import checks, oracles

# Shapes of the first cases of every check (the rest are random): a batch of 1, a single
# class, a square batch (an axis mix-up keeps the shape there, not the values).
EDGE_SHAPES: tuple[tuple[int, int], ...] = ((1, 7), (6, 1), (5, 5))

# Rows that break the naive formulas: exp overflows (1e3 and more), the sum underflows
# to 0 (every logit very negative), near-ties at the top so that softmax is not one-hot.
# The rows differ in size, so a max over the whole batch (not per row) still overflows
# or underflows.
STABLE_ROWS = np.array([
    [1e4, 1e4 - 0.5, 1e4 - 3.0, -1e4],
    [-1e4, -1e4 + 1.0, -1e4 + 2.0, -1e4 + 0.25],
    [1000.0, 999.0, 0.0, -1000.0],
    [-1e4, 1e4, 0.0, 5.0],
    [-1000.0, -1000.0, -1000.0, -1000.0],
    [710.0, 709.0, 708.0, -710.0],
])
# Target class of each stable row: near the top, in the middle, far below the largest (a loss
# of 2e4, where log(softmax) is log(0)), in a tie, the largest.
STABLE_TARGETS = np.array([1, 3, 2, 0, 2, 0])

LSE_HINT = ("reduce over the classes (axis=1): one number per row, shape (B,), "
            "and m + log(sum(exp(x - m))) with m the max of that row")
SOFTMAX_HINT = ("exp(x - row max), divided by its row sum; keep the reduced axis "
                "(keepdims=True) so that (B, C) / (B, 1) divides each row by its own sum")
FORWARD_HINT = ("one loss per sample, shape (B,): L_i = -sum_c t_ic log softmax(x_i)_c "
                "= logsumexp(x_i) - sum_c t_ic x_ic; no mean over the batch in forward")
STABLE_HINT = ("subtract each row's own max before exp, and take log softmax as "
               "x - logsumexp(x), never as log(softmax(x)) (softmax can underflow to 0)")
DERIVATIVE_HINT = ("the gradient of the MEAN loss: (softmax(x) - t) / B, at the x and t of "
                   "the last forward call, computed stably as in forward")
SOFT_HINT = ("t may be any row of probabilities: use every t_c (-sum_c t_c log softmax_c), "
             "not only the class of the largest one")


def forward_hint(got: Any, expected: np.ndarray, classes: int, default: str = FORWARD_HINT) -> str:
    """``default``, or what a wrong answer of a known kind looks like."""
    batch = len(expected)
    return checks.diagnose(got, default, [
        (expected / batch, ("it looks divided by B: forward returns each sample's own loss; "
                            "the mean over the batch is taken by the caller (and by derivative())")),
        (expected / classes, "it looks like a mean over the classes: the loss SUMS -t_c log softmax_c over c"),
    ])


def derivative_hint(got: Any, expected: np.ndarray, default: str = DERIVATIVE_HINT) -> str:
    """``default``, or what a wrong answer of a known kind looks like."""
    batch, classes = expected.shape
    return checks.diagnose(got, default, [
        (expected * batch, ("it is B times too large: that is the gradient of the SUM of the losses; "
                            "derivative() is the gradient of their MEAN (divide by B)")),
        (-expected, "the sign is flipped: the gradient is predicted minus target, softmax(x) - t"),
        (expected * batch / classes, "it is divided by C (the number of classes) instead of B (the batch size)"),
    ])


def draw_shape(generator: np.random.Generator) -> tuple[int, int]:
    """A random batch shape (B, C) with 1 <= B <= 9 and 1 <= C <= 12."""
    return int(generator.integers(1, 10)), int(generator.integers(1, 13))


def case_shape(generator: np.random.Generator, case: int) -> tuple[int, int]:
    """The shape of case number ``case``: the edge shapes first, then random ones."""
    return EDGE_SHAPES[case] if case < len(EDGE_SHAPES) else draw_shape(generator)


def draw_logits(generator: np.random.Generator, shape: tuple[int, int], scale: float = 3.0) -> np.ndarray:
    """Moderate logits: normal with standard deviation ``scale``, row offsets of a few units."""
    return generator.normal(0.0, scale, size=shape) + generator.normal(0.0, 2.0, size=(shape[0], 1))


def one_hot(generator: np.random.Generator, batch: int, classes: int) -> np.ndarray:
    """Random one-hot labels (B, C), float64."""
    return np.eye(classes)[generator.integers(0, classes, size=batch)]


def soft_targets(generator: np.random.Generator, batch: int, classes: int) -> np.ndarray:
    """Rows of probabilities: Dirichlet draws, with label-smoothed one-hot rows in between."""
    targets = generator.dirichlet(np.ones(classes), size=batch)
    smooth = generator.random(batch) < 0.5
    epsilon = 0.1
    targets[smooth] = (1 - epsilon) * one_hot(generator, int(smooth.sum()), classes) + epsilon / classes
    return targets


def large_logits(generator: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Rows at offsets of size 1e3 to 1e4 (signs mixed) with a spread of a few units inside each row."""
    offsets = generator.choice([-1e4, -3e3, -1e3, 1e3, 3e3, 1e4], size=(shape[0], 1))
    return offsets + generator.normal(0.0, 2.0, size=shape)


def _is_one_hot(t: np.ndarray) -> bool:
    return bool(np.all((t == 0) | (t == 1)) and np.all(t.sum(axis=1) == 1))


def oracle_logsumexp(x: np.ndarray) -> np.ndarray:
    """torch.logsumexp over the classes: (B,)."""
    return torch.logsumexp(oracles.tensor(x), dim=1).numpy()


def oracle_softmax(x: np.ndarray) -> np.ndarray:
    """torch.softmax over the classes: (B, C)."""
    return torch.softmax(oracles.tensor(x), dim=1).numpy()


def oracle_loss(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample cross-entropy (B,) and the autograd gradient of its mean (B, C)."""
    logits = oracles.tensor(x, grad=True)
    if _is_one_hot(t):
        target = torch.tensor(t.argmax(axis=1), dtype=torch.long)
    else:
        target = oracles.tensor(t)
    losses = F.cross_entropy(logits, target, reduction="none")
    (grad,) = torch.autograd.grad(losses.mean(), logits)
    return losses.detach().numpy(), grad.numpy()


def _shape_text(x: np.ndarray) -> str:
    return f"x of shape {x.shape}"


def _check_function(check_id: str, name: str, function: Callable[[np.ndarray], Any], x: np.ndarray,
                    expected: np.ndarray, hint: str) -> None:
    """One call ``function(x)`` compared with ``expected``, and x not modified by it."""
    x_given = x.copy()
    out = checks.call(f"{name}(x)", function, x_given)
    checks.unchanged(f"{check_id}.input", x, x_given, what=f"x after {name}(x)")
    checks.close(f"{check_id}.value", out, expected, what=f"{name}(x) for {_shape_text(x)}", hint=hint)


def _check_rowwise(notebook: str, name: str, function: Callable[[np.ndarray], Any],
                   oracle: Callable[[np.ndarray], np.ndarray], hint: str, cases: int) -> None:
    """``function(x)`` against ``oracle(x)`` for moderate logits on edge and random shapes; x not mutated."""
    for case in range(cases):
        check_id = f"{notebook}.{name}.{case}"
        generator = checks.rng(check_id)
        x = draw_logits(generator, case_shape(generator, case))
        _check_function(check_id, name, function, x, oracle(x), hint)


def check_logsumexp(notebook: str, logsumexp: Callable[[np.ndarray], Any], cases: int = 6) -> None:
    """Row-wise log-sum-exp of moderate logits on edge and random shapes; x not mutated."""
    _check_rowwise(notebook, "logsumexp", logsumexp, oracle_logsumexp, LSE_HINT, cases)


def check_softmax(notebook: str, softmax: Callable[[np.ndarray], Any], cases: int = 6) -> None:
    """Row-wise softmax of moderate logits on edge and random shapes; x not mutated."""
    _check_rowwise(notebook, "softmax", softmax, oracle_softmax, SOFTMAX_HINT, cases)


def check_forward(notebook: str, make: Callable[[], Any], name: str = "SoftmaxCrossEntropy",
                  cases: int = 6) -> None:
    """Per-sample losses (B,) of moderate logits and one-hot labels; x and y not mutated."""
    for case in range(cases):
        check_id = f"{notebook}.ce.forward.{case}"
        generator = checks.rng(check_id)
        shape = case_shape(generator, case)
        x, t = draw_logits(generator, shape), one_hot(generator, *shape)
        criterion = checks.call(f"{name}()", make)
        x_given, t_given = x.copy(), t.copy()
        losses = checks.call(f"{name}.forward(x, y)", criterion.forward, x_given, t_given)
        checks.unchanged(f"{check_id}.input_x", x, x_given, what=f"x after {name}.forward(x, y)")
        checks.unchanged(f"{check_id}.input_y", t, t_given, what=f"y after {name}.forward(x, y)")
        expected = oracle_loss(x, t)[0]
        checks.close(f"{check_id}.value", losses, expected, what=f"{name}.forward(x, y) for {_shape_text(x)}",
                     hint=forward_hint(losses, expected, shape[1]))


def stable_batches(check_id: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The fixed rows of STABLE_ROWS, a single class at ±1e4, and two random large batches, with one-hot labels."""
    generator = checks.rng(check_id)
    batches = [(STABLE_ROWS.copy(), np.eye(STABLE_ROWS.shape[1])[STABLE_TARGETS]),
               (np.array([[1e4], [-1e4], [1000.0]]), np.ones((3, 1)))]
    for _ in range(2):
        shape = (int(generator.integers(2, 10)), int(generator.integers(2, 13)))
        batches.append((large_logits(generator, shape), one_hot(generator, *shape)))
    return batches


def check_stable(notebook: str, logsumexp: Callable[[np.ndarray], Any], softmax: Callable[[np.ndarray], Any],
                 make: Callable[[], Any], name: str = "SoftmaxCrossEntropy") -> None:
    """Logits up to |1e4|: logsumexp and softmax on whole batches, the loss row by row."""
    prefix = f"{notebook}.stable"
    for index, (x, t) in enumerate(stable_batches(prefix)):
        what = f"{_shape_text(x)} with |x| up to {np.abs(x).max():.0e}"
        out = checks.call("logsumexp(x)", logsumexp, x.copy())
        checks.close(f"{prefix}.{index}.logsumexp", out, oracle_logsumexp(x), what=f"logsumexp(x) for {what}",
                     hint=STABLE_HINT)
        out = checks.call("softmax(x)", softmax, x.copy())
        checks.close(f"{prefix}.{index}.softmax", out, oracle_softmax(x), what=f"softmax(x) for {what}",
                     hint=STABLE_HINT)
        for row in range(len(x)):
            x_row, t_row = x[row:row + 1], t[row:row + 1]
            criterion = checks.call(f"{name}()", make)
            losses = checks.call(f"{name}.forward(x, y)", criterion.forward, x_row.copy(), t_row.copy())
            expected = oracle_loss(x_row, t_row)[0]
            checks.close(f"{prefix}.{index}.forward.{row}", losses, expected,
                         what=f"{name}.forward(x, y) for row {row} (as a batch of 1) of {what}",
                         hint=forward_hint(losses, expected, x.shape[1], default=STABLE_HINT))


def _derivative_cases(prefix: str, cases: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Edge and random shapes of moderate logits, then the large-logit batches of the stable check."""
    drawn = []
    for case in range(cases):
        check_id = f"{prefix}.{case}"
        generator = checks.rng(check_id)
        shape = case_shape(generator, case)
        drawn.append((check_id, draw_logits(generator, shape), one_hot(generator, *shape)))
    for index, (x, t) in enumerate(stable_batches(f"{prefix}.large")):
        drawn.append((f"{prefix}.large.{index}", x, t))
    return drawn


def check_derivative(notebook: str, make: Callable[[], Any], name: str = "SoftmaxCrossEntropy",
                     cases: int = 6) -> None:
    """derivative() against autograd of the mean loss; stale state, repeated calls, no mutation."""
    prefix = f"{notebook}.ce.derivative"
    for check_id, x, t in _derivative_cases(prefix, cases):
        criterion = checks.call(f"{name}()", make)
        x_given, t_given = x.copy(), t.copy()
        checks.call(f"{name}.forward(x, y)", criterion.forward, x_given, t_given)
        # Only what derivative() itself does to them: forward's own mutations are check_forward's.
        x_seen, t_seen = x_given.copy(), t_given.copy()
        grad = checks.call(f"{name}.derivative()", criterion.derivative)
        checks.unchanged(f"{check_id}.input_x", x_seen, x_given, what=f"x after {name}.derivative()")
        checks.unchanged(f"{check_id}.input_y", t_seen, t_given, what=f"y after {name}.derivative()")
        expected = oracle_loss(x, t)[1]
        checks.close(f"{check_id}.value", grad, expected,
                     what=f"{name}.derivative() after forward(x, y), {_shape_text(x)}, |x| up to "
                          f"{np.abs(x).max():.3g}", hint=derivative_hint(grad, expected))

    # Calling derivative() again gives the same gradient (no in-place update of the stored state).
    check_id = f"{prefix}.again"
    generator = checks.rng(check_id)
    x, t = draw_logits(generator, (4, 6)), one_hot(generator, 4, 6)
    criterion = checks.call(f"{name}()", make)
    checks.call(f"{name}.forward(x, y)", criterion.forward, x.copy(), t.copy())
    checks.call(f"{name}.derivative()", criterion.derivative)
    checks.close(check_id, checks.call(f"{name}.derivative()", criterion.derivative), oracle_loss(x, t)[1],
                 what=f"the second of two {name}.derivative() calls after one forward",
                 hint="derivative() must not change what forward stored (no `p -= y` on a stored array)")

    # A second forward (another shape) replaces what the first stored.
    check_id = f"{prefix}.stale"
    generator = checks.rng(check_id)
    x1, t1 = draw_logits(generator, (3, 5)), one_hot(generator, 3, 5)
    x2, t2 = draw_logits(generator, (7, 4)), one_hot(generator, 7, 4)
    criterion = checks.call(f"{name}()", make)
    checks.call(f"{name}.forward(x1, y1)", criterion.forward, x1.copy(), t1.copy())
    checks.call(f"{name}.derivative()", criterion.derivative)
    checks.call(f"{name}.forward(x2, y2)", criterion.forward, x2.copy(), t2.copy())
    checks.close(check_id, checks.call(f"{name}.derivative()", criterion.derivative), oracle_loss(x2, t2)[1],
                 what=f"{name}.derivative() after forward(x1, y1), derivative(), forward(x2, y2)",
                 hint="derivative() must use the x and y of the LAST forward call, not something computed once "
                      "and kept")


def check_soft_targets(notebook: str, make: Callable[[], Any], name: str = "SoftmaxCrossEntropy",
                       cases: int = 2) -> None:
    """Soft labels (rows of probabilities), one row at a time: the loss and its gradient."""
    for case in range(cases):
        check_id = f"{notebook}.ce.soft.{case}"
        generator = checks.rng(check_id)
        shape = (int(generator.integers(2, 7)), int(generator.integers(2, 13)))
        x, t = draw_logits(generator, shape), soft_targets(generator, *shape)
        for row in range(shape[0]):
            x_row, t_row = x[row:row + 1], t[row:row + 1]
            expected_losses, expected_grad = oracle_loss(x_row, t_row)
            what = f"row {row} (as a batch of 1) of {_shape_text(x)} with soft labels y"
            criterion = checks.call(f"{name}()", make)
            losses = checks.call(f"{name}.forward(x, y)", criterion.forward, x_row.copy(), t_row.copy())
            checks.close(f"{check_id}.{row}.forward", losses, expected_losses, what=f"{name}.forward(x, y) for {what}",
                         hint=forward_hint(losses, expected_losses, shape[1], default=SOFT_HINT))
            grad = checks.call(f"{name}.derivative()", criterion.derivative)
            checks.close(f"{check_id}.{row}.derivative", grad, expected_grad, what=f"{name}.derivative() for {what}",
                         hint=derivative_hint(grad, expected_grad, default=SOFT_HINT))
