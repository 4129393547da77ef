"""Reference building blocks for the later notebooks (06_mlp, 07_momentum, ...).

They have exactly the API that 02_activations, 03_loss, 04_linear and 05_batchnorm ask
students to build (numpy float64 in and out, batch first, ``x @ W + b``), but every
derivative and backward comes from ``torch.autograd``: each forward records a float64
torch graph, and each backward asks autograd for the gradient of that graph with the
incoming delta as ``grad_outputs``. So a later notebook can train a network with them
without handing out the hand-derived formulas an open assignment asks for.

Conventions (docs/contract.md, "Conventions"): the objective is the mean of the
per-sample losses; a loss's ``derivative()``, every ``backward()`` and every stored
parameter gradient is the gradient of that mean, and an incoming ``delta`` already is
one (no layer divides by B again). ``backward()`` overwrites ``dW``, ``db``, ``dgamma``,
``dbeta``. Inputs are never modified in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Activation",
    "Identity",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "Criterion",
    "SoftmaxCrossEntropy",
    "Linear",
    "BatchNorm",
]

Array = NDArray[np.float64]
T = TypeVar("T")


def _leaf(a: ArrayLike) -> torch.Tensor:
    """A float64 torch leaf that requires grad, holding a copy of ``a``.

    torch.tensor copies, so the caller's array is never touched by the graph.
    """
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=True)


def _const(a: ArrayLike) -> torch.Tensor:
    """A float64 torch tensor (no grad) holding a copy of ``a``."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


def _numpy(t: torch.Tensor) -> Array:
    """A float64 numpy copy of ``t``.

    A copy, not a view: the graph may have saved ``t`` for its backward, and a caller
    updating the returned array in place must not change the gradients we give later.
    """
    return t.detach().numpy().copy()


def _check_shape(where: str, name: str, a: np.ndarray, expected: tuple[int | str, ...]) -> None:
    """Raise ValueError unless ``a`` has the ``expected`` shape; a str entry ("B") matches any size."""
    ok = a.ndim == len(expected) and all(isinstance(e, str) or e == s for e, s in zip(expected, a.shape))
    if not ok:
        shown = "(" + ", ".join(str(e) for e in expected) + ")"
        raise ValueError(f"{where}: expected {name} of shape {shown}, got {a.shape}")


def _require_forward(where: str, saved: T | None) -> T:
    """What ``forward`` saved for the backward pass, or an error that says to call forward first."""
    if saved is None:
        raise RuntimeError(f"{where}: call forward() first")
    return saved


# --------------------------------------------------------------------------- activations


class Activation:
    """Base class of the elementwise activations (API of 02_activations).

    Attributes:
    - state: numpy array, the output f(z) of the last ``forward`` (same shape as its input),
      None before the first. This is the course's one meaning of ``state`` (docs/contract.md),
      shared by 02's reference solution; no hidden test depends on it.

    A subclass only says how to compute f on a torch tensor (``_f``); the derivative
    comes from torch.autograd.
    """

    def __init__(self) -> None:
        self.state: Array | None = None
        self._z: torch.Tensor | None = None
        self._out: torch.Tensor | None = None

    def _f(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: ArrayLike) -> Array:
        return self.forward(x)

    def forward(self, x: ArrayLike) -> Array:
        """Apply the activation elementwise.

        Inputs:
        - x: numpy array of any shape, e.g. (B, D).

        Returns:
        - out: float64 numpy array of the same shape, f(x); also stored in ``state``.
        """
        self._z = _leaf(x)
        self._out = self._f(self._z)
        self.state = _numpy(self._out)
        return self.state

    def derivative(self) -> Array:
        """Elementwise derivative f'(z) at the last input z of ``forward``.

        Returns:
        - dz: float64 numpy array with the shape of the last input. It is the gradient
          of sum(f(z)) w.r.t. z, which for an elementwise f is f'(z); at kinks it is
          what PyTorch uses (ReLU'(0) = 0, LeakyReLU'(0) = alpha).
        """
        out = _require_forward(f"{type(self).__name__}.derivative", self._out)
        z = _require_forward(f"{type(self).__name__}.derivative", self._z)
        (dz,) = torch.autograd.grad(out, z, grad_outputs=torch.ones_like(out), retain_graph=True)
        return _numpy(dz)


class Identity(Activation):
    """f(z) = z."""

    def _f(self, z: torch.Tensor) -> torch.Tensor:
        return z


class Sigmoid(Activation):
    """f(z) = 1 / (1 + exp(-z)); torch.sigmoid does not overflow for large |z|."""

    def _f(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z)


class Tanh(Activation):
    """f(z) = tanh(z)."""

    def _f(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z)


class ReLU(Activation):
    """f(z) = max(z, 0)."""

    def _f(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)


class LeakyReLU(Activation):
    """f(z) = z if z > 0 else alpha * z.

    Inputs:
    - alpha: slope for negative inputs (default 0.01).
    """

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def _f(self, z: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(z, negative_slope=self.alpha)


# --------------------------------------------------------------------------- loss


class Criterion:
    """Base class of the losses (API of 03_loss).

    ``forward(x, y)`` returns the per-sample losses; ``derivative()`` returns the
    gradient of their mean w.r.t. ``x``.
    """

    def __call__(self, x: ArrayLike, y: ArrayLike) -> Array:
        return self.forward(x, y)

    def forward(self, x: ArrayLike, y: ArrayLike) -> Array:
        raise NotImplementedError

    def derivative(self) -> Array:
        raise NotImplementedError


class SoftmaxCrossEntropy(Criterion):
    """Softmax followed by cross-entropy, per sample.

    Attributes (after ``forward``):
    - logits: (B, C) copy of the last logits.
    - labels: (B, C) copy of the last one-hot labels.
    - loss: (B,) the last per-sample losses.
    """

    def __init__(self) -> None:
        self.logits: Array | None = None
        self.labels: Array | None = None
        self.loss: Array | None = None
        self._x: torch.Tensor | None = None
        self._mean_loss: torch.Tensor | None = None

    def forward(self, x: ArrayLike, y: ArrayLike) -> Array:
        """Per-sample cross-entropy of softmax(x) against one-hot labels.

        Inputs:
        - x: logits, numpy array of shape (B, C).
        - y: one-hot labels, numpy array of shape (B, C).

        Returns:
        - loss: float64 numpy array of shape (B,), loss[i] = -sum_c y[i, c] log softmax(x[i])_c.
          Stable for logits up to |1e4| (torch's log_softmax uses log-sum-exp).
        """
        x_np = np.asarray(x, dtype=np.float64)
        y_np = np.asarray(y, dtype=np.float64)
        _check_shape("SoftmaxCrossEntropy.forward", "x", x_np, ("B", "C"))
        _check_shape("SoftmaxCrossEntropy.forward", "y", y_np, x_np.shape)
        self.logits, self.labels = x_np.copy(), y_np.copy()
        self._x = _leaf(x_np)
        per_sample = -(_const(y_np) * F.log_softmax(self._x, dim=1)).sum(dim=1)
        self._mean_loss = per_sample.mean()
        self.loss = _numpy(per_sample)
        return self.loss

    def derivative(self) -> Array:
        """Gradient of the mean loss over the batch w.r.t. the last logits.

        Returns:
        - dx: float64 numpy array of shape (B, C).
        """
        mean_loss = _require_forward("SoftmaxCrossEntropy.derivative", self._mean_loss)
        x = _require_forward("SoftmaxCrossEntropy.derivative", self._x)
        (dx,) = torch.autograd.grad(mean_loss, x, retain_graph=True)
        return _numpy(dx)


# --------------------------------------------------------------------------- linear


class Linear:
    """Fully connected layer, out = x @ W + b (API of 04_linear).

    Inputs:
    - in_feature, out_feature: number of input and output features.
    - weight_init_fn: weight_init_fn(in_feature, out_feature) -> (in_feature, out_feature).
    - bias_init_fn: bias_init_fn(out_feature) -> (out_feature,) or (1, out_feature).

    Attributes:
    - W: (in_feature, out_feature); b: (1, out_feature), whatever shape bias_init_fn gives.
    - dW, db: gradients of the mean loss, shapes of W and b (zeros until ``backward``).
    - momentum_W, momentum_b: momentum buffers for the optimizer, zeros like W and b.
    """

    def __init__(
        self,
        in_feature: int,
        out_feature: int,
        weight_init_fn: Callable[[int, int], ArrayLike],
        bias_init_fn: Callable[[int], ArrayLike],
    ) -> None:
        self.in_feature, self.out_feature = int(in_feature), int(out_feature)
        W = np.array(weight_init_fn(self.in_feature, self.out_feature), dtype=np.float64)
        _check_shape("Linear: weight_init_fn", "W", W, (self.in_feature, self.out_feature))
        b = np.array(bias_init_fn(self.out_feature), dtype=np.float64)
        if b.shape not in ((self.out_feature,), (1, self.out_feature)):
            raise ValueError(
                f"Linear: bias_init_fn: expected b of shape ({self.out_feature},) or "
                f"(1, {self.out_feature}), got {b.shape}"
            )
        self.W: Array = W
        self.b: Array = b.reshape(1, self.out_feature)
        self.dW: Array = np.zeros_like(self.W)
        self.db: Array = np.zeros_like(self.b)
        self.momentum_W: Array = np.zeros_like(self.W)
        self.momentum_b: Array = np.zeros_like(self.b)
        self._graph: tuple[torch.Tensor, ...] | None = None

    def __call__(self, x: ArrayLike) -> Array:
        return self.forward(x)

    def forward(self, x: ArrayLike) -> Array:
        """Compute out = x @ W + b.

        Inputs:
        - x: numpy array of shape (B, in_feature).

        Returns:
        - out: float64 numpy array of shape (B, out_feature).
        """
        x_np = np.asarray(x, dtype=np.float64)
        _check_shape("Linear.forward", "x", x_np, ("B", self.in_feature))
        # The graph holds copies of W and b as they are now: backward gives the gradient
        # at this forward point even if the optimizer updates W in place meanwhile.
        x_t, W_t, b_t = _leaf(x_np), _leaf(self.W), _leaf(self.b)
        out = x_t @ W_t + b_t
        self._graph = (x_t, W_t, b_t, out)
        return _numpy(out)

    def backward(self, delta: ArrayLike) -> Array:
        """Backpropagate the gradient of the mean loss w.r.t. the last output.

        Inputs:
        - delta: numpy array of shape (B, out_feature), dL/dout (already the gradient of
          the mean loss, so nothing is divided by B here).

        Returns:
        - dx: float64 numpy array of shape (B, in_feature). Also overwrites
          dW (in_feature, out_feature) and db (1, out_feature).
        """
        x_t, W_t, b_t, out = _require_forward("Linear.backward", self._graph)
        delta_np = np.asarray(delta, dtype=np.float64)
        _check_shape("Linear.backward", "delta", delta_np, tuple(out.shape))
        dx, dW, db = torch.autograd.grad(out, (x_t, W_t, b_t), grad_outputs=_const(delta_np), retain_graph=True)
        self.dW, self.db = _numpy(dW), _numpy(db)
        return _numpy(dx)


# --------------------------------------------------------------------------- batchnorm


class BatchNorm:
    """Batch normalisation over the batch axis of (B, in_feature) inputs (API of 05_batchnorm).

    Training mode normalises with the batch mean and the biased batch variance (1/B)
    and updates the running statistics
    ``running_mean = alpha * running_mean + (1 - alpha) * mean``,
    ``running_var = alpha * running_var + (1 - alpha) * var``;
    eval mode normalises with the running statistics and leaves them unchanged.
    out = gamma * (x - mean) / sqrt(var + eps) + beta.

    Inputs:
    - in_feature: number of features D.
    - alpha: weight of the old running statistics (default 0.9).

    Attributes:
    - gamma (ones), beta (zeros), running_mean (zeros), running_var (ones): all (1, D).
    - dgamma, dbeta: gradients of the mean loss, (1, D) (zeros until ``backward``).
    - eps: 1e-8, added to the variance.
    """

    def __init__(self, in_feature: int, alpha: float = 0.9) -> None:
        self.in_feature = int(in_feature)
        self.alpha = float(alpha)
        self.eps = 1e-8
        shape = (1, self.in_feature)
        self.gamma: Array = np.ones(shape)
        self.beta: Array = np.zeros(shape)
        self.dgamma: Array = np.zeros(shape)
        self.dbeta: Array = np.zeros(shape)
        self.running_mean: Array = np.zeros(shape)
        self.running_var: Array = np.ones(shape)
        self._graph: tuple[torch.Tensor, ...] | None = None

    def __call__(self, x: ArrayLike, eval: bool = False) -> Array:
        return self.forward(x, eval)

    def forward(self, x: ArrayLike, eval: bool = False) -> Array:
        """Normalise x per feature, then scale by gamma and shift by beta.

        Inputs:
        - x: numpy array of shape (B, in_feature).
        - eval: False (training) uses batch statistics and updates the running ones;
          True uses the running statistics and leaves them unchanged.

        Returns:
        - out: float64 numpy array of shape (B, in_feature).
        """
        x_np = np.asarray(x, dtype=np.float64)
        _check_shape("BatchNorm.forward", "x", x_np, ("B", self.in_feature))
        x_t, gamma_t, beta_t = _leaf(x_np), _leaf(self.gamma), _leaf(self.beta)
        if eval:
            mean, var = _const(self.running_mean), _const(self.running_var)
        else:
            mean = x_t.mean(dim=0, keepdim=True)
            var = x_t.var(dim=0, unbiased=False, keepdim=True)
            a = self.alpha
            self.running_mean = a * self.running_mean + (1 - a) * _numpy(mean)
            self.running_var = a * self.running_var + (1 - a) * _numpy(var)
        out = gamma_t * (x_t - mean) / torch.sqrt(var + self.eps) + beta_t
        self._graph = (x_t, gamma_t, beta_t, out)
        return _numpy(out)

    def backward(self, delta: ArrayLike) -> Array:
        """Backpropagate the gradient of the mean loss w.r.t. the last output.

        In training mode the gradient flows through the batch mean and variance too.

        Inputs:
        - delta: numpy array of shape (B, in_feature), dL/dout.

        Returns:
        - dx: float64 numpy array of shape (B, in_feature). Also overwrites
          dgamma and dbeta, both (1, in_feature).
        """
        x_t, gamma_t, beta_t, out = _require_forward("BatchNorm.backward", self._graph)
        delta_np = np.asarray(delta, dtype=np.float64)
        _check_shape("BatchNorm.backward", "delta", delta_np, tuple(out.shape))
        dx, dgamma, dbeta = torch.autograd.grad(
            out, (x_t, gamma_t, beta_t), grad_outputs=_const(delta_np), retain_graph=True
        )
        self.dgamma, self.dbeta = _numpy(dgamma), _numpy(dbeta)
        return _numpy(dx)
