"""Hidden tests of 01_derivations: each closed-form gradient against torch.autograd.

Jacobians and vector-Jacobian products come from torch.autograd through :mod:`handgrad.oracles`,
on float64 torch graphs built here. Every input is drawn from the
check's own generator (:func:`handgrad.checks.rng`), and every call also checks that the
student's function left its inputs alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from handgrad import checks, compare, oracles
from handgrad.oracles import vjp

Array = np.ndarray


def _call(check_id: str, what: str, function: Callable[..., Any], **inputs: Array) -> Any:
    """Call the student's function on copies of the inputs, then check the copies were not modified."""
    given = {name: array.copy() for name, array in inputs.items()}
    result = checks.call(what, function, *given.values())
    for name, array in inputs.items():
        checks.unchanged(f"{check_id}.unchanged.{name}", array, given[name], what=f"{name} after {what}")
    return result


def _parts(check_id: str, what: str, result: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    """The student's tuple of gradients, or a CheckFailed that says what was expected."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        raise checks.CheckFailed(f"[{check_id}] {what} must return a tuple ({', '.join(names)}); "
                                 f"got {compare.describe(result)}.")
    return tuple(result)


# --------------------------------------------------------------------------- softmax

def _compare_jacobian(check_id: str, function: Callable[[Array], Array], z: Array, hint: str) -> None:
    what = f"softmax_jacobian(z) for z of shape {z.shape}"
    got = _call(check_id, what, function, z=z)
    checks.close(check_id, got, oracles.softmax_jacobian(z), what=what, hint=hint)


def check_softmax_jacobian(notebook: str, function: Callable[[Array], Array], cases: int = 5) -> None:
    """Random logits of moderate size, C from 2 to 10; the last two cases: all logits equal, and C = 1."""
    for case in range(cases):
        check_id = f"{notebook}.softmax_jacobian.{case}"
        generator = checks.rng(check_id)
        size = 1 if case == cases - 1 else int(generator.integers(2, 11))
        z = np.full(size, generator.normal()) if case == cases - 2 else generator.normal(0.0, 3.0, size=size)
        _compare_jacobian(check_id, function, z,
                          hint="entry [i, j] is d s_i / d z_j; the diagonal (i = j) and the rest (i != j) "
                               "follow different formulas")


def check_softmax_jacobian_stable(notebook: str, function: Callable[[Array], Array]) -> None:
    """Logits of size 1e3, both signs: exp overflows (or underflows to 0/0) without the max shift."""
    prefix = f"{notebook}.softmax_jacobian.stable"
    generator = checks.rng(prefix)
    cases = [np.array([1000.0, 999.0, 998.0, -1000.0, 1000.0]),
             np.full(4, -1000.0),
             generator.normal(0.0, 1e3, size=int(generator.integers(3, 9)))]
    for case, z in enumerate(cases):
        _compare_jacobian(f"{prefix}.{case}", function, z,
                          hint="logits of size 1e3: exp(1000) is inf in float64, but softmax(z) = softmax(z - c) "
                               "for any constant c (if moderate logits fail too, fix those first)")


def check_softmax_ce_grad(notebook: str, function: Callable[[Array, Array], Array], cases: int = 5) -> None:
    """One logit vector and a one-hot target, C from 2 to 10; the last two cases: C = 1, and logits of size 1e3."""
    for case in range(cases):
        check_id = f"{notebook}.softmax_ce_grad.{case}"
        generator = checks.rng(check_id)
        size = 1 if case == cases - 2 else int(generator.integers(2, 11))
        scale = 1e3 if case == cases - 1 else 3.0
        z = generator.normal(0.0, scale, size=size)
        t = np.eye(size)[int(generator.integers(0, size))]
        what = f"softmax_ce_grad(z, t) for z of shape {z.shape}" + (" and logits of size 1e3" if scale > 3 else "")
        got = _call(check_id, what, function, z=z, t=t)
        hint = ("exp(1000) is inf in float64: compute the softmax of z - max(z), which is the same" if scale > 3
                else "dL/dz has the shape of z; check the sign: raising the true class's logit lowers the loss")
        checks.close(check_id, got, oracles.softmax_ce_grad(z, t), what=what, hint=hint)


# --------------------------------------------------------------------------- linear layer

LINEAR_HINTS = {
    "dx": "dx has the shape of x (B, in): every row of dout goes back through the weights",
    "dW": "dW has the shape of W (in, out) and adds up one contribution per sample; dout already is the "
          "gradient of the mean loss, so no division by B",
    "db": "db has the shape of b (1, out): b is used by every sample, so the gradients of all rows add up; "
          "no division by B",
}


def check_linear_backward(notebook: str, function: Callable[..., Any], part: str, cases: int = 5) -> None:
    """One of dx, dW, db of ``x @ W + b`` against autograd; the last two cases: in = out, and B = 1."""
    names = ("dx", "dW", "db")
    index = names.index(part)
    for case in range(cases):
        generator = checks.rng(f"{notebook}.linear_backward.{case}")  # the same inputs for every part
        batch = 1 if case == cases - 1 else int(generator.integers(2, 9))
        n_in, n_out = int(generator.integers(1, 8)), int(generator.integers(1, 7))
        if case == cases - 2:
            n_in = n_out = 3
        x, W = generator.normal(size=(batch, n_in)), generator.normal(size=(n_in, n_out))
        b, dout = generator.normal(size=(1, n_out)), generator.normal(size=(batch, n_out))
        check_id = f"{notebook}.linear_backward.{part}.{case}"
        what = f"linear_backward(x, W, b, dout) for x {x.shape}, W {W.shape}, b {b.shape}, dout {dout.shape}"
        result = _parts(check_id, what, _call(check_id, what, function, x=x, W=W, b=b, dout=dout), names)
        expected = vjp(lambda x, W, b: x @ W + b, (x, W, b), dout)
        checks.close(check_id, result[index], expected[index], what=f"{part} of {what}", hint=LINEAR_HINTS[part])


# --------------------------------------------------------------------------- leaky ReLU

def check_leaky_relu_grad(notebook: str, function: Callable[[Array, float], Array]) -> None:
    """f'(z) elementwise for 1-, 2- and 3-d inputs with exact zeros and several slopes."""
    for case, ndim in enumerate((2, 2, 1, 3, 2)):
        check_id = f"{notebook}.leaky_relu_grad.{case}"
        generator = checks.rng(check_id)
        shape = tuple(int(n) for n in generator.integers(1, 7, size=ndim))
        z = generator.normal(0.0, 3.0, size=shape)
        z[generator.random(shape) < 0.2] = 0.0  # the kink, where PyTorch's derivative is alpha
        alpha = 0.01 if case == 0 else float(generator.uniform(0.05, 0.5))
        what = f"leaky_relu_grad(z, alpha={alpha:.3g}) for z of shape {z.shape}"
        got = _call(check_id, what, lambda z: function(z, alpha), z=z)
        (expected,) = vjp(lambda v: F.leaky_relu(v, negative_slope=alpha), (z,), np.ones_like(z))
        checks.close(check_id, got, expected, what=what,
                     hint="the elementwise derivative f'(z), of z's shape; at z = 0 exactly, follow PyTorch")


# --------------------------------------------------------------------------- batch normalisation

def check_batchnorm_backward_dx(notebook: str, function: Callable[..., Array], cases: int = 5) -> None:
    """dx of training-mode BatchNorm (biased batch variance) against F.batch_norm; the last two cases: B = 2
    (where x_hat is +-1 whatever x is, so dx is almost 0), and eps = 1e-5."""
    for case in range(cases):
        check_id = f"{notebook}.batchnorm_backward_dx.{case}"
        generator = checks.rng(check_id)
        batch = 2 if case == cases - 2 else int(generator.integers(3, 13))
        features = int(generator.integers(1, 7))
        x = generator.normal(0.0, 1.0, size=(batch, features)) * generator.uniform(0.5, 3.0, size=(1, features))
        x = x + generator.normal(0.0, 2.0, size=(1, features))
        gamma = generator.normal(size=(1, features))
        dy = generator.normal(size=(batch, features))
        eps = 1e-5 if case == cases - 1 else 1e-8
        what = (f"batchnorm_backward_dx(dy, x, gamma, eps={eps:g}) for x of shape {x.shape}, "
                f"gamma of shape {gamma.shape}")
        got = _call(check_id, what, lambda dy, x, gamma: function(dy, x, gamma, eps), dy=dy, x=x, gamma=gamma)
        (expected,) = vjp(lambda v: F.batch_norm(v, None, None, weight=torch.tensor(gamma[0]), training=True,
                                                 eps=eps), (x,), dy)
        checks.close(check_id, got, expected, what=what,
                     hint="statistics per feature (over the batch axis), the biased variance (1/m), and "
                          "the mean and the variance depend on x too")


# --------------------------------------------------------------------------- division, expansion, row normalisation

def check_div_backward(notebook: str, function: Callable[..., Any], part: str, cases: int = 4) -> None:
    """dX or dY of elementwise X / Y; Y stays away from zero; the last case is 1-d."""
    names = ("dX", "dY")
    index = names.index(part)
    for case in range(cases):
        generator = checks.rng(f"{notebook}.div_backward.{case}")  # the same inputs for both parts
        ndim = 1 if case == cases - 1 else 2
        shape = tuple(int(n) for n in generator.integers(1, 7, size=ndim))
        X = generator.normal(size=shape)
        Y = generator.choice([-1.0, 1.0], size=shape) * generator.uniform(0.5, 2.0, size=shape)
        dout = generator.normal(size=shape)
        check_id = f"{notebook}.div_backward.{part}.{case}"
        what = f"div_backward(X, Y, dout) for X, Y, dout of shape {shape}"
        result = _parts(check_id, what, _call(check_id, what, function, X=X, Y=Y, dout=dout), names)
        expected = vjp(lambda X, Y: X / Y, (X, Y), dout)
        checks.close(check_id, result[index], expected[index], what=f"{part} of {what}",
                     hint=f"{part} has the shape of {part[1]}; differentiate X / Y with respect to {part[1]} "
                          f"alone, then multiply by dout elementwise")


def check_expand_backward(notebook: str, function: Callable[[Array], Array], cases: int = 4) -> None:
    """The gradient of a column (n, 1) expanded to (n, k); the last two cases: n = 1, and k = 1."""
    for case in range(cases):
        check_id = f"{notebook}.expand_backward.{case}"
        generator = checks.rng(check_id)
        n = 1 if case == cases - 2 else int(generator.integers(2, 8))
        k = 1 if case == cases - 1 else int(generator.integers(2, 8))
        dout = generator.normal(size=(n, k))
        what = f"expand_backward(dout) for dout of shape {dout.shape}"
        got = _call(check_id, what, function, dout=dout)
        (expected,) = vjp(lambda x: x.expand(n, k), (np.zeros((n, 1)),), dout)
        checks.close(check_id, got, expected, what=what,
                     hint="the gradient has the shape of x, (n, 1); x_i is copied into k outputs, and each "
                          "copy passes its gradient back")


def check_row_normalize_backward(notebook: str, function: Callable[[Array, Array], Array], cases: int = 5) -> None:
    """dX of Y = X / (row sums of X) for positive X; the last case has one column (then Y = 1 and dX = 0)."""
    for case in range(cases):
        check_id = f"{notebook}.row_normalize_backward.{case}"
        generator = checks.rng(check_id)
        n, k = int(generator.integers(1, 7)), 1 if case == cases - 1 else int(generator.integers(2, 8))
        X = generator.uniform(0.1, 2.0, size=(n, k)) * 10.0 ** generator.uniform(-1, 1, size=(n, 1))
        dout = generator.normal(size=(n, k))
        what = f"row_normalize_backward(X, dout) for X of shape {X.shape}"
        got = _call(check_id, what, function, X=X, dout=dout)
        (expected,) = vjp(lambda v: v / v.sum(dim=1, keepdim=True), (X,), dout)
        checks.close(check_id, got, expected, what=what,
                     hint="dX has the shape of X; X_ij reaches the output twice: in the numerator, and in "
                          "the row sum that divides every entry of row i")


# --------------------------------------------------------------------------- gradient checking

def _smooth_objective(generator: np.random.Generator, shape: tuple[int, ...]) -> Callable[[Any], Any]:
    """A scalar function of an array of ``shape`` that couples its entries, written once for numpy and torch.

    ``f(x) = sum(w * tanh(x)) + 0.5 * v M v + sum(c * x**3) / 3`` with ``v = x.ravel()``: its third
    derivative is far from zero, so a forward difference is off by about h, a central one by about h**2.
    """
    size = int(np.prod(shape))
    w, c = generator.normal(size=shape), generator.normal(0.0, 0.5, size=shape)
    M = generator.normal(0.0, 0.3, size=(size, size))

    def f(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            v = x.reshape(-1)
            return (torch.tensor(w) * torch.tanh(x)).sum() + 0.5 * v @ torch.tensor(M) @ v \
                + (torch.tensor(c) * x ** 3).sum() / 3
        x = np.asarray(x, dtype=np.float64)
        if x.shape != shape:
            raise ValueError(f"f expects an array of shape {shape} (the shape of x), got {x.shape}")
        v = x.reshape(-1)
        return float((w * np.tanh(x)).sum() + 0.5 * v @ M @ v + (c * x ** 3).sum() / 3)

    return f


def _autograd(f: Callable[[Any], Any], x: Array) -> Array:
    """The exact gradient of the torch version of ``f`` at ``x``."""
    (grad,) = vjp(f, (x,), np.array(1.0))
    return grad


def check_numerical_gradient(notebook: str, function: Callable[..., Array], cases: int = 5) -> None:
    """Central differences of a coupled smooth function against autograd, for 1-, 2- and 3-d x and several h;
    the last two cases: x of shape (1,), and x with exact zeros and entries of size 10 (h relative to 1)."""
    for case, ndim in enumerate((1, 2, 3, 1, 2)[:cases]):
        check_id = f"{notebook}.numerical_gradient.{case}"
        generator = checks.rng(check_id)
        shape = (1,) if case == cases - 2 else tuple(int(n) for n in generator.integers(2, 5, size=ndim))
        x = generator.normal(size=shape)
        if case == cases - 1:
            x[generator.random(shape) < 0.3] = 0.0
            x = x * np.where(generator.random(shape) < 0.3, 10.0, 1.0)
        h = float(generator.choice([1e-4, 3e-5, 1e-5]))
        f = _smooth_objective(generator, shape)
        what = f"numerical_gradient(f, x, h={h:g}) for x of shape {shape}"
        got = _call(check_id, what, lambda x: function(f, x, h), x=x)
        expected = _autograd(f, x)
        forward = np.array([(f(x + h * e) - f(x)) / h for e in np.eye(x.size).reshape(-1, *shape)]).reshape(shape)
        hint = checks.diagnose(got, "one entry at a time: (f(x + h e_i) - f(x - h e_i)) / (2h), every other entry "
                                    "left as it is; the result has the shape of x",
                               [(forward, "this is the forward difference (f(x + h) - f(x)) / h, off by about h; "
                                          "the central difference is off by about h**2"),
                                (2 * expected, "twice the gradient: the two evaluations are 2h apart")])
        checks.close(check_id, got, expected, what=what, rtol=1e-6, atol=1e-7, hint=hint)


def _relative_error(a: Array, b: Array) -> float:
    """The oracle: max over entries of |a - b| / max(|a|, |b|), an entry with a = b = 0 counting as 0."""
    scale = np.maximum(np.abs(a), np.abs(b))
    ratio = np.divide(np.abs(a - b), scale, out=np.zeros_like(scale), where=scale > 0)
    return float(ratio.max())


def check_relative_error(notebook: str, function: Callable[[Array, Array], Any], cases: int = 5) -> None:
    """Random arrays of several shapes and scales; exact zeros in both (an entry where both are 0 must count 0),
    a zero in one only (error 1), equal arrays (error 0), and gradients that differ by a sign."""
    for case in range(cases):
        check_id = f"{notebook}.relative_error.{case}"
        generator = checks.rng(check_id)
        shape = tuple(int(n) for n in generator.integers(1, 6, size=int(generator.integers(1, 4))))
        scale = 10.0 ** generator.uniform(-2, 3)
        a = generator.normal(0.0, scale, size=shape)
        b = a * (1 + generator.normal(0.0, 1e-3, size=shape))
        if case == 1:
            both_zero = generator.random(shape) < 0.4
            both_zero.flat[0] = True
            a[both_zero], b[both_zero] = 0.0, 0.0      # e.g. a ReLU's gradient where the input is negative
        elif case == 2:
            b = a.copy()
            a.flat[0] = b.flat[0] = 0.0
        elif case == 3:
            b.flat[-1] = 0.0                          # one of the two is 0: relative error 1
        elif case == 4:
            b = -a                                    # a sign error: relative error 2
        what = f"relative_error(a, b) for a, b of shape {shape}"
        got = _call(check_id, what, function, a=a, b=b)
        # rtol 1e-4: a guard such as max(|a|, |b|) + 1e-12 is as good as the exact case distinction
        checks.close(check_id, got, _relative_error(a, b), what=what, rtol=1e-4,
                     hint="the largest entry of |a - b| / max(|a|, |b|); where a and b are both 0 the entry is 0 "
                          "(not 0/0); a single number")
