"""Hidden tests of 04_linear: ``Linear`` against torch.autograd on ``x @ W + b``.

The oracle is a vector-Jacobian product (:func:`handgrad.oracles.value_and_vjp`): torch builds
``out = x @ W + b`` in float64 and autograd's product with ``delta`` gives what ``backward(delta)``
must return and store. Shapes are drawn so that in, out and B differ (a transposed
gradient then has the wrong shape), plus a square layer (in == out, where it has the
right shape and only the values tell), B = 1, and both bias shapes ``(out,)`` and
``(1, out)``.

When a value is wrong, the hint names the likely mistake if the student's value matches
one of a few known wrong answers (divided by B, transposed, accumulated, stale input...),
computed here from the oracle; it never prints expected values.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from handgrad import checks, oracles

MakeLinear = Callable[..., Any]   # Linear(in_feature, out_feature, weight_init_fn, bias_init_fn)

HINT_DW = ("dW is the gradient of the mean loss w.r.t. W, shape (in, out): it pairs the input of the last "
           "forward with delta, summed over the batch (section 4)")
HINT_DB = "db has b's shape (1, out): every sample's delta reaches the one shared bias (section 4)"
HINT_DX = "dx has x's shape (B, in): each sample's delta goes back through W (section 4)"
HINT_DIV_B = ("it looks divided by B: delta already is the gradient of the MEAN loss (the 1/B is inside it), "
              "so the layer must not divide again")


def oracle(x: np.ndarray, W: np.ndarray, b: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, ...]:
    """``out = x @ W + b`` and its vector-Jacobian products with ``delta``: (out, dx, dW, db), db of b's shape."""
    out, (dx, dW, db) = oracles.value_and_vjp(lambda x, W, b: x @ W + b, (x, W, b), delta)
    return out, dx, dW, db


# --------------------------------------------------------------------------- drawing inputs


def draw_sizes(generator: np.random.Generator, square: bool = False) -> tuple[int, int, int]:
    """(B, in, out): all three different (or in == out != B when ``square``), each in 2..9."""
    while True:
        batch, d_in, d_out = (int(n) for n in generator.integers(2, 10, size=3))
        if square:
            d_out = d_in
        if batch != d_in and batch != d_out and (square or d_in != d_out):
            return batch, d_in, d_out


class Case:
    """One layer's worth of inputs: x (B, in), W (in, out), b as bias_init_fn returns it, delta (B, out)."""

    def __init__(self, check_id: str, sizes: tuple[int, int, int] | None = None, square: bool = False,
                 bias_row: bool | None = None) -> None:
        generator = checks.rng(check_id)
        self.batch, self.d_in, self.d_out = sizes or draw_sizes(generator, square)
        self.x = generator.normal(0.0, 1.0, size=(self.batch, self.d_in))
        self.W = generator.normal(0.0, 1.0, size=(self.d_in, self.d_out))
        row = bool(generator.integers(0, 2)) if bias_row is None else bias_row
        self.b_given = generator.normal(0.0, 1.0, size=(1, self.d_out) if row else (self.d_out,))
        self.b = self.b_given.reshape(1, self.d_out)
        # delta as a mean loss would give it: of size about 1/B.
        self.delta = generator.normal(0.0, 1.0, size=(self.batch, self.d_out)) / self.batch
        self.out, self.dx, self.dW, self.db = oracle(self.x, self.W, self.b, self.delta)

    @property
    def shapes(self) -> str:
        return (f"x {self.x.shape}, W {self.W.shape}, b given as {self.b_given.shape}, "
                f"delta {self.delta.shape}")

    def weight_init_fn(self, d_in: int, d_out: int) -> np.ndarray:
        """Returns a fresh copy of W when asked for (in, out); another layout is asked for otherwise."""
        if (int(d_in), int(d_out)) != self.W.shape:
            return np.arange(float(d_in * d_out)).reshape(int(d_in), int(d_out)) + 100.0
        return self.W.copy()

    def bias_init_fn(self, d_out: int) -> np.ndarray:
        """Returns a fresh copy of b in the shape this case chose ((out,) or (1, out))."""
        if int(d_out) != self.d_out:
            return np.full(int(d_out), 100.0)
        return self.b_given.copy()

    def replaced(self, x: np.ndarray | None = None, delta: np.ndarray | None = None) -> Case:
        """The same layer (W, b) with another input and/or upstream gradient, and its oracle."""
        other = copy.copy(self)
        other.x = self.x if x is None else x
        other.delta = self.delta if delta is None else delta
        other.batch = other.x.shape[0]
        other.out, other.dx, other.dW, other.db = oracle(other.x, other.W, other.b, other.delta)
        return other

    def make(self, make: MakeLinear) -> Any:
        return checks.call(f"Linear({self.d_in}, {self.d_out}, weight_init_fn, bias_init_fn)", make,
                           self.d_in, self.d_out, self.weight_init_fn, self.bias_init_fn)


# --------------------------------------------------------------------------- the graded checks


def check_init(notebook: str, make: MakeLinear, cases: int = 4) -> None:
    """W and b as the init functions gave them (b always (1, out)); dW, db and momenta zeros of their shapes."""
    prefix = f"{notebook}.linear.init"
    for case_number in range(cases):
        check_id = f"{prefix}.{case_number}"
        # Both bias shapes, and one square layer, among the cases.
        case = Case(check_id, square=case_number == 3, bias_row=case_number % 2 == 1)
        layer = case.make(make)
        what = f"Linear({case.d_in}, {case.d_out}, ...) with bias_init_fn returning shape {case.b_given.shape}"
        checks.close(f"{check_id}.W", getattr(layer, "W", None), case.W, what=f"layer.W after {what}",
                     hint="W is what weight_init_fn(in_feature, out_feature) returns, shape (in, out)")
        checks.close(f"{check_id}.b", getattr(layer, "b", None), case.b, what=f"layer.b after {what}",
                     hint="store b with shape (1, out) whichever of (out,) or (1, out) bias_init_fn returns "
                          "(reshape)")
        zeros = {"dW": case.W, "db": case.b, "momentum_W": case.W, "momentum_b": case.b}
        for name, like in zeros.items():
            checks.close(f"{check_id}.{name}", getattr(layer, name, None), np.zeros_like(like),
                         what=f"layer.{name} after {what}",
                         hint=f"{name} starts as zeros with the shape of its parameter, {like.shape}")


def check_forward(notebook: str, make: MakeLinear, cases: int = 4) -> None:
    """``forward(x) = x @ W + b`` on random shapes, B = 1 and a square layer; x not modified; current W, b used."""
    prefix = f"{notebook}.linear.forward"
    for case_number in range(cases + 2):
        check_id = f"{prefix}.{case_number}"
        sizes = (1, 5, 3) if case_number == cases else None              # a single sample
        case = Case(check_id, sizes=sizes, square=case_number == cases + 1)
        layer = case.make(make)
        x_given = case.x.copy()
        out = checks.call("layer.forward(x)", layer.forward, x_given)
        checks.unchanged(f"{check_id}.input", case.x, x_given, what="x after layer.forward(x)")
        checks.close(f"{check_id}.out", out, case.out, what=f"layer.forward(x) with {case.shapes}",
                     hint=checks.diagnose(out, "out = x @ W + b has shape (B, out); b broadcasts over the batch",
                                   [(case.out - case.b, "the bias is missing")]))

    # The optimizer may replace W and b by new arrays: forward must use the current attributes.
    check_id = f"{prefix}.new_parameters"
    case = Case(check_id)
    layer = case.make(make)
    generator = checks.rng(f"{check_id}.new")
    new_W, new_b = generator.normal(size=case.W.shape), generator.normal(size=case.b.shape)
    layer.W, layer.b = new_W.copy(), new_b.copy()
    out = checks.call("layer.forward(x)", layer.forward, case.x.copy())
    checks.close(f"{check_id}.out", out, oracle(case.x, new_W, new_b, case.delta)[0],
                 what=f"layer.forward(x) after assigning new arrays to layer.W and layer.b ({case.shapes})",
                 hint="forward must read self.W and self.b as they are now (an optimizer updates them), "
                      "not a copy kept from __init__")


def _forward_backward(case: Case, make: MakeLinear) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """A fresh layer, forward(x) then backward(delta) on copies; returns (layer, dx, x copy, delta copy)."""
    layer = case.make(make)
    x_given, delta_given = case.x.copy(), case.delta.copy()
    checks.call("layer.forward(x)", layer.forward, x_given)
    dx = checks.call("layer.backward(delta)", layer.backward, delta_given)
    return layer, dx, x_given, delta_given


def check_backward_dx(notebook: str, make: MakeLinear, cases: int = 4) -> None:
    """dx = dL/dx against autograd; neither x nor delta is modified."""
    prefix = f"{notebook}.linear.dx"
    for case_number in range(cases + 2):
        check_id = f"{prefix}.{case_number}"
        sizes = (1, 4, 6) if case_number == cases else None
        case = Case(check_id, sizes=sizes, square=case_number == cases + 1)
        _, dx, x_given, delta_given = _forward_backward(case, make)
        checks.unchanged(f"{check_id}.delta", case.delta, delta_given, what="delta after layer.backward(delta)")
        checks.unchanged(f"{check_id}.input", case.x, x_given, what="x after layer.forward(x), layer.backward(delta)")
        suspects = [(case.dx / case.batch, HINT_DIV_B)]
        if case.d_in == case.d_out:
            suspects.append((case.delta @ case.W, "dx looks like delta times W, not W transposed: which index of "
                                                  "W meets delta's output index?"))
        checks.close(f"{check_id}.dx", dx, case.dx, what=f"dx = layer.backward(delta) with {case.shapes}",
                     hint=checks.diagnose(dx, HINT_DX, suspects))


def _check_params(check_id: str, layer: Any, case: Case, what: str,
                  extra_dW: Sequence[tuple[np.ndarray, str]] = (),
                  extra_db: Sequence[tuple[np.ndarray, str]] = ()) -> None:
    """Compare layer.dW and layer.db with the oracle of ``case``, with hints for the usual mistakes."""
    dW, db = getattr(layer, "dW", None), getattr(layer, "db", None)
    suspects_dW = [*extra_dW, (case.dW / case.batch, HINT_DIV_B),
                   (case.dW.T, "dW looks transposed: entry (i, j) pairs input feature i with output j, "
                               "and W is (in, out)"),
                   (case.out.T @ case.delta, "dW is built from the layer's output; it needs the layer's input x")]
    checks.close(f"{check_id}.dW", dW, case.dW, what=f"layer.dW after {what}",
                 hint=checks.diagnose(dW, HINT_DW, suspects_dW))
    suspects_db = [*extra_db, (case.db / case.batch, HINT_DIV_B),
                   (case.db.reshape(-1), "db has shape (out,), b has (1, out): keep the summed axis (keepdims=True)"),
                   (case.delta, "db must sum delta over the batch: all samples share one bias")]
    checks.close(f"{check_id}.db", db, case.db, what=f"layer.db after {what}",
                 hint=checks.diagnose(db, HINT_DB, suspects_db))


def check_backward_params(notebook: str, make: MakeLinear, cases: int = 4) -> None:
    """dW and db against autograd: random non-square shapes, a square layer, B = 1, both bias shapes."""
    prefix = f"{notebook}.linear.params"
    for case_number in range(cases + 3):
        check_id = f"{prefix}.{case_number}"
        sizes = (1, 3, 5) if case_number == cases + 2 else None
        case = Case(check_id, sizes=sizes, square=case_number in (cases, cases + 1))
        layer, *_ = _forward_backward(case, make)
        _check_params(check_id, layer, case, what=f"layer.backward(delta) with {case.shapes}")


def check_state(notebook: str, make: MakeLinear) -> None:
    """Backward uses the last forward's input, also interleaved with forwards of another batch size; a second
    backward overwrites dW, db; W, b are left alone."""
    prefix = f"{notebook}.linear.state"

    # Two forwards (same batch size, then a different one), one backward: the last input counts.
    for label, second_batch in (("last_input", 4), ("last_input_new_batch", 7)):
        check_id = f"{prefix}.{label}"
        first = Case(f"{check_id}.first", sizes=(4, 6, 3))
        generator = checks.rng(f"{check_id}.second")
        second = first.replaced(x=generator.normal(size=(second_batch, 6)),
                                delta=generator.normal(size=(second_batch, 3)) / second_batch)
        layer = first.make(make)
        checks.call("layer.forward(x1)", layer.forward, first.x.copy())
        checks.call("layer.forward(x2)", layer.forward, second.x.copy())
        dx = checks.call("layer.backward(delta)", layer.backward, second.delta.copy())
        what = f"forward(x1), forward(x2) with x2 of shape {second.x.shape}, then backward(delta)"
        checks.close(f"{check_id}.dx", dx, second.dx, what=f"dx after {what}", hint=HINT_DX)
        stale = []
        if second.batch == first.batch:
            stale.append((first.x.T @ second.delta,
                          "dW uses the input of the FIRST forward: store x on every forward call"))
        _check_params(check_id, layer, second, what=what, extra_dW=stale)

    # Backward twice after one forward: the second call's gradients replace the first's.
    check_id = f"{prefix}.overwrite"
    first = Case(f"{check_id}.first", sizes=(5, 3, 4))
    second = first.replaced(delta=checks.rng(f"{check_id}.delta2").normal(size=first.delta.shape) / first.batch)
    layer = first.make(make)
    checks.call("layer.forward(x)", layer.forward, first.x.copy())
    checks.call("layer.backward(delta1)", layer.backward, first.delta.copy())
    checks.call("layer.backward(delta2)", layer.backward, second.delta.copy())
    summed = "backward adds to dW/db: it must overwrite them (each backward gives the gradient of one batch)"
    _check_params(check_id, layer, second, what="forward(x), backward(delta1), backward(delta2)",
                  extra_dW=[(first.dW + second.dW, summed)], extra_db=[(first.db + second.db, summed)])

    # Interleaved: forward(x1), backward(delta1), forward(x2 of another batch size), backward(delta2).
    check_id = f"{prefix}.interleaved"
    first = Case(f"{check_id}.first", sizes=(3, 5, 4))
    generator = checks.rng(f"{check_id}.second")
    second = first.replaced(x=generator.normal(size=(6, 5)), delta=generator.normal(size=(6, 4)) / 6)
    layer = first.make(make)
    checks.call("layer.forward(x1)", layer.forward, first.x.copy())
    checks.call("layer.backward(delta1)", layer.backward, first.delta.copy())
    checks.call("layer.forward(x2)", layer.forward, second.x.copy())
    dx = checks.call("layer.backward(delta2)", layer.backward, second.delta.copy())
    what = f"forward(x1), backward(delta1), forward(x2), backward(delta2) with x1 {first.x.shape}, x2 {second.x.shape}"
    checks.close(f"{check_id}.dx", dx, second.dx, what=f"dx after {what}",
                 hint="each backward returns the dx of its own delta: compute it anew on every call")
    _check_params(check_id, layer, second, what=what)

    # The layer computes gradients; updating the parameters is the optimizer's job. (b is compared as a
    # row, so that a b stored as (out,) costs the points of test_linear_init only.)
    check_id = f"{prefix}.parameters_untouched"
    case = Case(check_id)
    layer, *_ = _forward_backward(case, make)
    now = {"W": getattr(layer, "W", None), "b": _as_row(getattr(layer, "b", None))}
    for name, value, got in (("W", case.W, now["W"]), ("b", case.b, now["b"])):
        checks.close(f"{check_id}.{name}", got, value, what=f"layer.{name} after forward(x) and backward(delta)",
                     hint="forward and backward must not change the parameters: the optimizer updates them later")


def _as_row(value: Any) -> Any:
    """A numeric value as a float64 row (1, n); anything else unchanged (the comparison then says what it is)."""
    try:
        return np.array(value, dtype=np.float64).reshape(1, -1)
    except (TypeError, ValueError):
        return value
