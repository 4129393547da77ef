"""handgrad.graph: the tiny engine, given backward functions that torch.autograd computes here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handgrad import graph
from handgrad.oracles import elementwise, softmax_ce_grad, tensor, vjp

SEEDS = [0, 1, 2]


# Correct backward functions with the notebook's signatures, all by autograd.
def linear_backward(x, W, b, dout):
    return vjp(lambda x, W, b: x @ W + b, (x, W, b), dout)


def leaky_relu_grad(z, alpha):
    return elementwise(lambda z: F.leaky_relu(z, alpha), z)[1]


def div_backward(X, Y, dout):
    return vjp(lambda X, Y: X / Y, (X, Y), dout)


def expand_backward(dout):
    (grad,) = vjp(lambda x: x.expand(-1, dout.shape[1]), (np.zeros((dout.shape[0], 1)),), dout)
    return grad


def two_layer_problem(seed: int):
    rng = np.random.default_rng(seed)
    batch, n_in, hidden, classes = int(rng.integers(2, 9)), int(rng.integers(2, 7)), int(rng.integers(2, 6)), 4
    params = {"W1": rng.normal(size=(n_in, hidden)), "b1": rng.normal(size=(1, hidden)),
              "W2": rng.normal(size=(hidden, classes)), "b2": rng.normal(size=(1, classes))}
    x = rng.normal(size=(batch, n_in))
    t = np.eye(classes)[rng.integers(0, classes, size=batch)]
    return x, t, params


@pytest.mark.parametrize("seed", SEEDS)
def test_two_layer_network_matches_torch(seed):
    x, t, params = two_layer_problem(seed)
    values = {name: graph.Value(array, name=name) for name, array in params.items()}
    x_node = graph.Value(x, name="x")
    linear, act = graph.linear_op(linear_backward), graph.leaky_relu_op(leaky_relu_grad, alpha=0.1)
    logits = linear(act(linear(x_node, values["W1"], values["b1"])), values["W2"], values["b2"])
    loss = graph.softmax_ce_op(softmax_ce_grad)(logits, t)
    loss.backward()

    leaves = {name: tensor(array, grad=True) for name, array in params.items()}
    x_t = tensor(x, grad=True)
    hidden = F.leaky_relu(x_t @ leaves["W1"] + leaves["b1"], 0.1)
    expected = F.cross_entropy(hidden @ leaves["W2"] + leaves["b2"], torch.tensor(t))
    expected.backward()

    np.testing.assert_allclose(loss.data, expected.item(), rtol=1e-12)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(values[name].grad, leaf.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(x_node.grad, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_value_used_twice_accumulates():
    a, b = graph.Value(2.0, name="a"), graph.Value(-3.0, name="b")
    out = graph.mul(graph.add(graph.mul(a, b), a), b)  # (ab + a) b: a and b are each used twice
    out.backward()
    assert a.grad == pytest.approx(-3.0 * -3.0 + -3.0)  # b^2 + b
    assert b.grad == pytest.approx(2 * 2.0 * -3.0 + 2.0)  # 2ab + a


def test_diamond_is_processed_in_topological_order():
    # x -> h -> (u, v) -> out: h must receive both u's and v's gradient before passing it on.
    x = graph.Value(np.array([1.5, -2.0]), name="x")
    h = graph.mul(x, x)
    out = graph.total(graph.add(graph.mul(h, h), h))  # sum(x^4 + x^2)
    out.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data ** 3 + 2 * x.data)
    order = out.topological_order()
    assert order.index(x) < order.index(h) < order.index(out) and len(order) == len(set(map(id, order)))


def test_backward_twice_gives_the_same_gradients():
    x = graph.Value(np.array([[1.0, 2.0]]))
    out = graph.total(graph.mul(x, x))
    out.backward()
    out.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


@pytest.mark.parametrize("seed", SEEDS)
def test_row_normalize_composed_from_ops_matches_torch(seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.1, 2.0, size=(int(rng.integers(1, 6)), int(rng.integers(1, 6))))
    dout = rng.normal(size=X.shape)
    x = graph.Value(X)
    sums = graph.expand_op(expand_backward, X.shape[1])(graph.row_sum(x))
    graph.div_op(div_backward)(x, sums).backward(dout)
    (expected,) = vjp(lambda X: X / X.sum(dim=1, keepdim=True), (X,), dout)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-10, atol=1e-12)


def test_inputs_are_copied_and_ops_accept_plain_arrays():
    array = np.array([[1.0, 2.0]])
    x = graph.Value(array)
    out = graph.total(graph.mul(x, array))  # the second input becomes a leaf Value
    out.backward()
    array[0, 0] = 100.0
    assert x.data[0, 0] == 1.0 and out.parents[0].parents[1].data[0, 0] == 1.0


def test_a_gradient_of_the_wrong_shape_is_named():
    bad = graph.linear_op(lambda x, W, b, dout: (dout @ W.T, x.T @ dout, dout))  # db not summed
    out = graph.total(bad(np.ones((3, 2)), np.ones((2, 4)), np.ones((1, 4))))
    with pytest.raises(ValueError, match=r"'linear' returned a gradient of shape \(3, 4\) for input 2"):
        out.backward()


def test_backward_without_dout_needs_a_scalar():
    with pytest.raises(ValueError, match="scalar"):
        graph.mul(np.ones(3), np.ones(3)).backward()
    with pytest.raises(ValueError, match="shape"):
        graph.mul(np.ones(3), np.ones(3)).backward(np.ones(2))
