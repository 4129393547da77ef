"""Weight and bias initialisers for the layers of the notebooks (float64 numpy).

Shapes follow docs/contract.md: ``weight_init_fn(in, out) -> (in, out)`` and
``bias_init_fn(out) -> (out,)`` for ``Linear``; ``weight_init_fn(out, in, k, k) ->
(out, in, k, k)`` and ``bias_init_fn(out) -> (out,)`` for ``Conv2D``. Random ones take
an optional ``rng`` (``np.random.Generator``); without one they draw from a fresh
``np.random.default_rng()``, so pass a seeded generator for reproducible runs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "zeros_weight",
    "zeros_bias",
    "normal_weight",
    "xavier_weight",
    "he_weight",
    "he_conv_weight",
    "zeros_conv_bias",
]

Array = NDArray[np.float64]


def _normal(shape: tuple[int, ...], std: float, rng: np.random.Generator | None) -> Array:
    rng = np.random.default_rng() if rng is None else rng
    return rng.normal(0.0, std, size=shape)


def zeros_weight(d_in: int, d_out: int) -> Array:
    """W = 0, shape (d_in, d_out)."""
    return np.zeros((d_in, d_out), dtype=np.float64)


def zeros_bias(d_out: int) -> Array:
    """b = 0, shape (d_out,)."""
    return np.zeros(d_out, dtype=np.float64)


def normal_weight(d_in: int, d_out: int, std: float = 0.01, rng: np.random.Generator | None = None) -> Array:
    """W ~ N(0, std^2), shape (d_in, d_out)."""
    return _normal((d_in, d_out), std, rng)


def xavier_weight(d_in: int, d_out: int, rng: np.random.Generator | None = None) -> Array:
    """Glorot normal: W ~ N(0, 2 / (d_in + d_out)), shape (d_in, d_out)."""
    return _normal((d_in, d_out), np.sqrt(2.0 / (d_in + d_out)), rng)


def he_weight(d_in: int, d_out: int, rng: np.random.Generator | None = None) -> Array:
    """Kaiming normal for ReLU: W ~ N(0, 2 / d_in), shape (d_in, d_out)."""
    return _normal((d_in, d_out), np.sqrt(2.0 / d_in), rng)


def he_conv_weight(
    out_c: int, in_c: int, k: int, k2: int | None = None, rng: np.random.Generator | None = None
) -> Array:
    """Kaiming normal for ReLU: W ~ N(0, 2 / (in_c * k * k2)), shape (out_c, in_c, k, k2); k2 defaults to k."""
    k2 = k if k2 is None else k2
    return _normal((out_c, in_c, k, k2), np.sqrt(2.0 / (in_c * k * k2)), rng)


def zeros_conv_bias(out_c: int) -> Array:
    """b = 0, shape (out_c,): one bias per output channel."""
    return np.zeros(out_c, dtype=np.float64)
