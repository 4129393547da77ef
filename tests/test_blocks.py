"""handgrad.blocks against oracles computed here with torch.nn / torch.nn.functional."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from handgrad import blocks
from handgrad.blocks import (
    BatchNorm,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
)

SEEDS = [0, 1, 2, 3]


def close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert isinstance(actual, np.ndarray) and actual.dtype == np.float64
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


def draw_shape(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(2, 9)), int(rng.integers(1, 7))


def t64(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def one_hot(rng: np.random.Generator, batch: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, classes, size=batch)
    return np.eye(classes)[labels], labels


# --------------------------------------------------------------------------- activations

ACTIVATIONS = {
    "Identity": (Identity, nn.Identity),
    "Sigmoid": (Sigmoid, nn.Sigmoid),
    "Tanh": (Tanh, nn.Tanh),
    "ReLU": (ReLU, nn.ReLU),
    "LeakyReLU": (lambda: LeakyReLU(0.2), lambda: nn.LeakyReLU(0.2)),
    "LeakyReLU-default": (LeakyReLU, lambda: nn.LeakyReLU(0.01)),
}


def activation_oracle(module: nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = t64(x, grad=True)
    out = module(z)
    out.sum().backward()
    return out.detach().numpy(), z.grad.numpy()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_torch(name: str, seed: int) -> None:
    make, make_oracle = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    x = 3 * rng.standard_normal(draw_shape(rng))
    x[0, 0] = 0.0  # a kink for ReLU and LeakyReLU
    x_before = x.copy()
    act = make()
    out = act.forward(x)
    expected_out, expected_dz = activation_oracle(make_oracle(), x)
    close(out, expected_out)
    close(act.state, expected_out)
    close(act.derivative(), expected_dz)
    np.testing.assert_array_equal(x, x_before)


SIG1 = 1 / (1 + np.exp(-1.0))  # sigmoid(1); sigmoid is symmetric: s'(-1) = s'(1)


@pytest.mark.parametrize(
    "act, expected",
    [
        (Identity(), [1.0, 1.0, 1.0]),
        (Sigmoid(), [SIG1 * (1 - SIG1), 0.25, SIG1 * (1 - SIG1)]),
        (Tanh(), [1 - np.tanh(1.0) ** 2, 1.0, 1 - np.tanh(1.0) ** 2]),
        (ReLU(), [0.0, 0.0, 1.0]),
        (LeakyReLU(), [0.01, 0.01, 1.0]),
        (LeakyReLU(0.3), [0.3, 0.3, 1.0]),
    ],
    ids=["Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "LeakyReLU-0.3"],
)
def test_activation_known_derivatives_and_kinks(act: blocks.Activation, expected: list[float]) -> None:
    # Known values at -1, 0 (the kink: ReLU'(0) = 0, LeakyReLU'(0) = alpha, as PyTorch) and 1.
    act.forward(np.array([[-1.0, 0.0, 1.0]]))
    close(act.derivative(), np.array([expected]))


def test_sigmoid_large_inputs_do_not_overflow() -> None:
    sig = Sigmoid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sig.forward(np.array([[-1e3, -50.0, 50.0, 1e3]]))
        dz = sig.derivative()
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dz))
    close(out[:, [0, 3]], np.array([[0.0, 1.0]]))
    close(dz[:, [0, 3]], np.array([[0.0, 0.0]]))


def test_activation_uses_last_input_and_returns_float64() -> None:
    relu = ReLU()
    relu.forward(np.array([[1.0, 2.0]]))
    out = relu.forward(np.array([[-1, 3]], dtype=np.int64))
    close(out, np.array([[0.0, 3.0]]))
    close(relu.derivative(), np.array([[0.0, 1.0]]))


def test_activation_output_owned_by_caller() -> None:
    # The caller may update the returned output in place; the derivative must not change.
    sig = Sigmoid()
    x = np.array([[0.5, -2.0]])
    out = sig.forward(x)
    out[:] = 0.0
    s = 1 / (1 + np.exp(-x))
    close(sig.derivative(), s * (1 - s))


def test_derivative_before_forward_raises() -> None:
    with pytest.raises(RuntimeError, match="forward"):
        Tanh().derivative()


# --------------------------------------------------------------------------- loss


def ce_oracle(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = t64(x, grad=True)
    target = torch.tensor(labels)
    per_sample = F.cross_entropy(logits, target, reduction="none")
    F.cross_entropy(logits, target, reduction="mean").backward()
    return per_sample.detach().numpy(), logits.grad.numpy()


@pytest.mark.parametrize("scale", [1.0, 1e4])
@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy_matches_torch(seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    batch, classes = draw_shape(rng)
    classes += 1
    x = scale * rng.standard_normal((batch, classes))
    if scale > 1:
        x[0, :2] = [1e4, -1e4]
    y, labels = one_hot(rng, batch, classes)
    x_before, y_before = x.copy(), y.copy()
    ce = SoftmaxCrossEntropy()
    loss = ce.forward(x, y)
    dx = ce.derivative()
    expected_loss, expected_dx = ce_oracle(x, labels)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dx))
    close(loss, expected_loss)
    close(dx, expected_dx)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)


def test_softmax_cross_entropy_shape_errors() -> None:
    ce = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        ce.forward(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(B, C\).*\(3,\)"):
        ce.forward(np.zeros(3), np.zeros(3))


# --------------------------------------------------------------------------- linear


def make_linear(rng: np.random.Generator, d_in: int, d_out: int, bias_2d: bool) -> Linear:
    def bias_init(n: int) -> np.ndarray:
        b = rng.standard_normal(n)
        return b.reshape(1, n) if bias_2d else b

    return Linear(d_in, d_out, lambda i, o: rng.standard_normal((i, o)), bias_init)


def linear_oracle(W: np.ndarray, b: np.ndarray, x: np.ndarray, delta: np.ndarray) -> dict[str, np.ndarray]:
    lin = nn.Linear(*W.shape, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(t64(W.T))
        lin.bias.copy_(t64(b.ravel()))
    xt = t64(x, grad=True)
    out = lin(xt)
    out.backward(t64(delta))
    return {
        "out": out.detach().numpy(),
        "dx": xt.grad.numpy(),
        "dW": lin.weight.grad.numpy().T,
        "db": lin.bias.grad.numpy()[None, :],
    }


@pytest.mark.parametrize("bias_2d", [False, True], ids=["bias(out,)", "bias(1,out)"])
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_matches_torch(seed: int, bias_2d: bool) -> None:
    rng = np.random.default_rng(seed)
    batch, d_in = draw_shape(rng)
    d_out = int(rng.integers(1, 6))
    layer = make_linear(rng, d_in, d_out, bias_2d)
    assert layer.W.shape == (d_in, d_out) and layer.b.shape == (1, d_out)
    for name in ("dW", "momentum_W"):
        np.testing.assert_array_equal(getattr(layer, name), np.zeros((d_in, d_out)))
    for name in ("db", "momentum_b"):
        np.testing.assert_array_equal(getattr(layer, name), np.zeros((1, d_out)))

    x = rng.standard_normal((batch, d_in))
    delta = rng.standard_normal((batch, d_out)) / batch
    W_before, b_before, x_before, delta_before = layer.W.copy(), layer.b.copy(), x.copy(), delta.copy()
    out = layer.forward(x)
    dx = layer.backward(delta)
    expected = linear_oracle(layer.W, layer.b, x, delta)
    close(out, expected["out"])
    close(dx, expected["dx"])
    close(layer.dW, expected["dW"])
    close(layer.db, expected["db"])
    for now, before in [(layer.W, W_before), (layer.b, b_before), (x, x_before), (delta, delta_before)]:
        np.testing.assert_array_equal(now, before)


def test_linear_backward_overwrites_and_uses_last_forward() -> None:
    rng = np.random.default_rng(7)
    layer = make_linear(rng, 4, 3, bias_2d=False)
    layer.forward(rng.standard_normal((5, 4)))
    x = rng.standard_normal((6, 4))
    layer.forward(x)
    layer.backward(rng.standard_normal((6, 3)))
    delta = rng.standard_normal((6, 3))
    dx = layer.backward(delta)
    expected = linear_oracle(layer.W, layer.b, x, delta)
    close(dx, expected["dx"])
    close(layer.dW, expected["dW"])
    close(layer.db, expected["db"])


def test_linear_stores_float64() -> None:
    layer = Linear(2, 3, lambda i, o: np.ones((i, o), dtype=np.float32), lambda o: np.zeros(o, dtype=np.int64))
    assert layer.W.dtype == np.float64 and layer.b.dtype == np.float64
    assert layer.forward(np.ones((1, 2), dtype=np.float32)).dtype == np.float64


def test_linear_shape_errors() -> None:
    rng = np.random.default_rng(0)
    layer = make_linear(rng, 3, 2, bias_2d=False)
    with pytest.raises(ValueError, match=r"\(B, 3\).*\(4, 5\)"):
        layer.forward(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(B, 3\).*\(3,\)"):
        layer.forward(np.zeros(3))
    layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(2, 4\)"):
        layer.backward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        Linear(3, 2, lambda i, o: np.zeros((o, i)), np.zeros)
    with pytest.raises(ValueError, match=r"\(2,\).*\(1, 2\).*\(2, 1\)"):
        Linear(3, 2, lambda i, o: np.zeros((i, o)), lambda o: np.zeros((o, 1)))


def test_linear_backward_before_forward_raises() -> None:
    layer = make_linear(np.random.default_rng(0), 3, 2, bias_2d=False)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((1, 2)))


# --------------------------------------------------------------------------- batchnorm


def torch_batchnorm(gamma: np.ndarray, beta: np.ndarray) -> nn.BatchNorm1d:
    # momentum=0.1 is alpha=0.9 for the running mean; running_var differs (unbiased in torch).
    bn = nn.BatchNorm1d(gamma.shape[1], eps=1e-8, momentum=0.1, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(t64(gamma.ravel()))
        bn.bias.copy_(t64(beta.ravel()))
    return bn


def batchnorm_oracle(bn: nn.Module, x: np.ndarray, delta: np.ndarray) -> dict[str, np.ndarray]:
    xt = t64(x, grad=True)
    out = bn(xt)
    out.backward(t64(delta))
    return {
        "out": out.detach().numpy(),
        "dx": xt.grad.numpy(),
        "dgamma": bn.weight.grad.numpy()[None, :],
        "dbeta": bn.bias.grad.numpy()[None, :],
    }


def test_batchnorm_initial_state() -> None:
    bn = BatchNorm(3)
    assert bn.eps == 1e-8 and bn.alpha == 0.9
    for name, value in [("gamma", 1), ("beta", 0), ("running_mean", 0), ("running_var", 1), ("dgamma", 0),
                        ("dbeta", 0)]:
        np.testing.assert_array_equal(getattr(bn, name), np.full((1, 3), float(value)), err_msg=name)


def random_batchnorm(rng: np.random.Generator) -> tuple[int, int, BatchNorm]:
    """A random (batch, dim) and a BatchNorm(dim) with random gamma and beta."""
    batch, dim = draw_shape(rng)
    bn = BatchNorm(dim)
    bn.gamma = rng.standard_normal((1, dim))
    bn.beta = rng.standard_normal((1, dim))
    return batch, dim, bn


@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_train_matches_torch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch, dim, bn = random_batchnorm(rng)
    oracle = torch_batchnorm(bn.gamma, bn.beta)
    expected_mean, expected_var = np.zeros((1, dim)), np.ones((1, dim))
    for _ in range(3):  # several steps, so the running statistics really accumulate
        x = 2 + 3 * rng.standard_normal((batch, dim))
        delta = rng.standard_normal((batch, dim)) / batch
        x_before, delta_before = x.copy(), delta.copy()
        out = bn.forward(x)
        dx = bn.backward(delta)
        oracle.weight.grad = oracle.bias.grad = None
        expected = batchnorm_oracle(oracle, x, delta)
        close(out, expected["out"])
        close(dx, expected["dx"])
        close(bn.dgamma, expected["dgamma"])
        close(bn.dbeta, expected["dbeta"])
        expected_mean = 0.9 * expected_mean + 0.1 * x.mean(axis=0, keepdims=True)
        expected_var = 0.9 * expected_var + 0.1 * x.var(axis=0, keepdims=True)  # biased, unlike torch's
        close(bn.running_mean, oracle.running_mean.numpy()[None, :])
        close(bn.running_mean, expected_mean)
        close(bn.running_var, expected_var)
        np.testing.assert_array_equal(x, x_before)
        np.testing.assert_array_equal(delta, delta_before)


@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_eval_matches_torch_and_keeps_running_stats(seed: int) -> None:
    rng = np.random.default_rng(seed)
    batch, dim, bn = random_batchnorm(rng)
    bn.running_mean = rng.standard_normal((1, dim))
    bn.running_var = rng.uniform(0.5, 2.0, (1, dim))
    mean_before, var_before = bn.running_mean.copy(), bn.running_var.copy()
    oracle = torch_batchnorm(bn.gamma, bn.beta).eval()
    with torch.no_grad():
        oracle.running_mean.copy_(t64(bn.running_mean.ravel()))
        oracle.running_var.copy_(t64(bn.running_var.ravel()))
    x = rng.standard_normal((batch, dim))
    delta = rng.standard_normal((batch, dim))
    out = bn.forward(x, eval=True)
    dx = bn.backward(delta)
    expected = batchnorm_oracle(oracle, x, delta)
    close(out, expected["out"])
    close(dx, expected["dx"])
    close(bn.dgamma, expected["dgamma"])
    close(bn.dbeta, expected["dbeta"])
    np.testing.assert_array_equal(bn.running_mean, mean_before)
    np.testing.assert_array_equal(bn.running_var, var_before)


def test_batchnorm_backward_overwrites() -> None:
    rng = np.random.default_rng(11)
    bn = BatchNorm(4)
    x = rng.standard_normal((5, 4))
    bn.forward(x)
    bn.backward(rng.standard_normal((5, 4)))
    delta = rng.standard_normal((5, 4))
    dx = bn.backward(delta)
    expected = batchnorm_oracle(torch_batchnorm(bn.gamma, bn.beta), x, delta)
    close(dx, expected["dx"])
    close(bn.dgamma, expected["dgamma"])
    close(bn.dbeta, expected["dbeta"])


def test_batchnorm_shape_errors() -> None:
    bn = BatchNorm(3)
    with pytest.raises(ValueError, match=r"\(B, 3\).*\(4, 5\)"):
        bn.forward(np.zeros((4, 5)))
    bn.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        bn.backward(np.zeros((4, 2)))


# --------------------------------------------------------------------------- autograd


def test_every_derivative_and_backward_goes_through_autograd(monkeypatch: pytest.MonkeyPatch) -> None:
    # The blocks reveal no hand-derived formula: each gradient they return must come
    # from a torch.autograd.grad call made by that very method.
    returned: list[np.ndarray] = []
    real_grad = torch.autograd.grad

    def spy(*args, **kwargs):
        grads = real_grad(*args, **kwargs)
        returned.append(grads[0].detach().numpy().copy())
        return grads

    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3))
    delta = rng.standard_normal((4, 3))
    y, _ = one_hot(rng, 4, 3)
    cases = [(act, act.forward, act.derivative, ()) for act in (Identity(), Sigmoid(), Tanh(), ReLU(), LeakyReLU())]
    ce = SoftmaxCrossEntropy()
    cases.append((ce, lambda v: ce.forward(v, y), ce.derivative, ()))
    layer = make_linear(rng, 3, 3, bias_2d=False)
    cases.append((layer, layer.forward, layer.backward, (delta,)))
    bn = BatchNorm(3)
    cases.append((bn, bn.forward, bn.backward, (delta,)))

    monkeypatch.setattr(torch.autograd, "grad", spy)
    for block, forward, backward, args in cases:
        forward(x)
        returned.clear()
        result = backward(*args)
        assert len(returned) == 1, f"{type(block).__name__}: expected one torch.autograd.grad call"
        np.testing.assert_array_equal(result, returned[0], err_msg=type(block).__name__)
