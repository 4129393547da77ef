"""handgrad.initializers: shapes, dtype, spread and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import initializers as init


def test_zeros() -> None:
    for a, shape in [
        (init.zeros_weight(3, 5), (3, 5)),
        (init.zeros_bias(5), (5,)),
        (init.zeros_conv_bias(4), (4,)),
    ]:
        assert a.shape == shape and a.dtype == np.float64
        assert not a.any()


# (function, positional shape arguments, resulting shape, expected std)
RANDOM = {
    "normal": (init.normal_weight, (300, 200), (300, 200), 0.01),
    "xavier": (init.xavier_weight, (300, 200), (300, 200), np.sqrt(2 / 500)),
    "he": (init.he_weight, (300, 200), (300, 200), np.sqrt(2 / 300)),
    "he_conv": (init.he_conv_weight, (16, 8, 3), (16, 8, 3, 3), np.sqrt(2 / (8 * 9))),
    "he_conv_rect": (init.he_conv_weight, (16, 8, 3, 5), (16, 8, 3, 5), np.sqrt(2 / (8 * 15))),
}


@pytest.mark.parametrize("name", RANDOM)
def test_random_shape_dtype_and_std(name: str) -> None:
    fn, args, shape, std = RANDOM[name]
    w = fn(*args, rng=np.random.default_rng(0))
    assert w.shape == shape and w.dtype == np.float64
    # Tolerances well above the sampling error for >= 1920 draws, well below a wrong formula.
    assert abs(w.mean()) < 0.1 * std
    assert w.std() == pytest.approx(std, rel=0.05)


@pytest.mark.parametrize("name", RANDOM)
def test_random_reproducible_with_seed(name: str) -> None:
    fn, args, _, _ = RANDOM[name]
    a = fn(*args, rng=np.random.default_rng(42))
    b = fn(*args, rng=np.random.default_rng(42))
    c = fn(*args, rng=np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", RANDOM)
def test_random_without_rng_draws_fresh(name: str) -> None:
    fn, args, shape, _ = RANDOM[name]
    a, b = fn(*args), fn(*args)
    assert a.shape == shape and not np.array_equal(a, b)


def test_normal_weight_custom_std() -> None:
    w = init.normal_weight(400, 300, std=0.5, rng=np.random.default_rng(1))
    assert w.std() == pytest.approx(0.5, rel=0.02)


def test_usable_as_linear_init_fns() -> None:
    from handgrad.blocks import Linear

    layer = Linear(4, 3, init.he_weight, init.zeros_bias)
    assert layer.W.shape == (4, 3) and layer.b.shape == (1, 3) and not layer.b.any()
