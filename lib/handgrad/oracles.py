"""Torch oracles: what torch.autograd says a gradient is, for numpy arrays, in float64.

The one home of the oracles that the hidden-test suites, the demos, the notebooks' visible
checks and the course's own tests share. Each turns numpy inputs into float64 torch leaves,
lets autograd differentiate and hands numpy arrays back. None of them is a stored answer.

A backward pass is a vector-Jacobian product (row-vector convention): for ``y = f(x)`` and an
upstream gradient ``dout`` of ``y``'s shape, ``vjp`` returns ``dout`` contracted with the
Jacobian, i.e. the gradient of ``<f(x), dout> = sum(f(x) * dout)`` with respect to ``x``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from numpy.typing import ArrayLike

Array = np.ndarray
TorchFn = Callable[..., torch.Tensor]


def tensor(a: ArrayLike, grad: bool = False) -> torch.Tensor:
    """A float64 torch tensor holding a copy of ``a`` (a leaf that records gradients when ``grad``)."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def value_and_vjp(function: TorchFn, arrays: tuple[ArrayLike, ...], dout: ArrayLike) -> tuple[Array, tuple[Array, ...]]:
    """``function(*arrays)`` and the gradients of ``<function(*arrays), dout>`` w.r.t. each array.

    Inputs:
    - function: maps float64 tensors to one tensor y.
    - arrays: the inputs, numpy arrays of any shapes.
    - dout: the upstream gradient, an array of y's shape.

    Returns:
    - (y, grads): y as a numpy array, and one gradient per input with that input's shape.
    """
    leaves = [tensor(a, grad=True) for a in arrays]
    output = function(*leaves)
    grads = torch.autograd.grad(output, leaves, grad_outputs=tensor(dout), allow_unused=True)
    return (output.detach().numpy(),
            tuple(np.zeros(leaf.shape) if g is None else g.numpy() for leaf, g in zip(leaves, grads)))


def vjp(function: TorchFn, arrays: tuple[ArrayLike, ...] | list[ArrayLike], dout: ArrayLike) -> tuple[Array, ...]:
    """Gradients of ``<function(*arrays), dout>`` with respect to each array: the backward pass of ``function``."""
    return value_and_vjp(function, tuple(arrays), dout)[1]


def elementwise(function: TorchFn, z: ArrayLike) -> tuple[Array, Array]:
    """``f(z)`` and ``f'(z)`` of an elementwise ``function`` (the gradient of sum f(z)); kinks as in PyTorch."""
    z = np.asarray(z, dtype=np.float64)
    output, (derivative,) = value_and_vjp(function, (z,), np.ones_like(z))
    return output, derivative


def jacobian(function: TorchFn, z: ArrayLike) -> Array:
    """The Jacobian of ``function`` at ``z``: entry [i, j] = d y_i / d z_j (for 1-d z and y)."""
    result = torch.autograd.functional.jacobian(function, tensor(z))
    if not isinstance(result, torch.Tensor):
        raise TypeError("jacobian() takes a function of one tensor to one tensor")
    return result.numpy()


def softmax_jacobian(z: ArrayLike) -> Array:
    """The (C, C) Jacobian of softmax at logits z (C,): entry [i, j] = d softmax_i / d z_j."""
    return jacobian(lambda v: torch.softmax(v, dim=0), z)


def softmax(z: ArrayLike, dim: int = -1) -> Array:
    """torch.softmax of ``z`` along ``dim`` (the last axis by default)."""
    return torch.softmax(tensor(z), dim=dim).numpy()


def softmax_ce_grad(z: ArrayLike, t: ArrayLike) -> Array:
    """d/dz of one sample's cross-entropy -sum_i t_i log softmax(z)_i: z, t (C,) -> (C,) (no batch mean)."""
    target = tensor(t)
    (grad,) = vjp(lambda v: -(target * torch.log_softmax(v, dim=0)).sum(), (z,), 1.0)
    return grad
