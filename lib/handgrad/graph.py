"""A tiny computation graph: value nodes, op nodes with a context, a backward pass in topological order.

micrograd's idea, for numpy arrays. A :class:`Value` holds an array, ``grad`` (the
gradient of the final scalar with respect to that array, same shape) and the op that
made it. An :class:`Op` pairs a forward function, which computes the output and saves
what backward needs in a :class:`Context`, with a backward function, which turns the
gradient of the output into one gradient per input (a vector-Jacobian product).

The ops of 01_derivations take their backward functions as arguments, so the engine
computes gradients exactly as right as the functions it is given::

    linear = graph.linear_op(linear_backward)     # your function does the backward
    act = graph.leaky_relu_op(leaky_relu_grad)
    loss = graph.softmax_ce_op(softmax_ce_grad)(linear(act(linear(x, W1, b1)), W2, b2), t)
    loss.backward()                               # fills W1.grad, b1.grad, ...

Forward passes that an open assignment asks students to write (log-sum-exp, activations)
are computed with torch here, so reading this file gives away no exercise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray

__all__ = ["Context", "Op", "Value", "add", "mul", "total", "row_sum", "linear_op", "leaky_relu_op",
           "softmax_ce_op", "div_op", "expand_op"]

Array = NDArray[np.float64]
ForwardFn = Callable[..., Array]  # (ctx, *input arrays) -> output array
BackwardFn = Callable[..., Sequence[Any]]  # (ctx, dout) -> one gradient (or None) per input


class Context:
    """What an op's forward keeps for its backward (like ``ctx`` in torch.autograd.Function)."""

    def __init__(self) -> None:
        """Start with nothing saved."""
        self.saved: tuple[Any, ...] = ()

    def save(self, *items: Any) -> None:
        """Keep items (arrays, numbers) for the backward pass."""
        self.saved = items


class Value:
    """A node of the graph: an array, the gradient of the final scalar with respect to it, and its maker."""

    def __init__(self, data: ArrayLike, name: str = "", parents: tuple[Value, ...] = (),
                 op: Op | None = None, ctx: Context | None = None) -> None:
        """Wrap ``data`` as float64; ``parents``, ``op`` and ``ctx`` are set by :class:`Op` only."""
        self.data: Array = np.array(data, dtype=np.float64)  # a copy: the graph owns its arrays
        self.grad: Array = np.zeros_like(self.data)
        self.name = name or (op.name if op is not None else "")
        self.parents = parents
        self.op = op
        self.ctx = ctx

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data`` (and of ``grad``)."""
        return self.data.shape

    def __repr__(self) -> str:
        """Name and shape, e.g. ``Value('W1', shape=(784, 64))``."""
        return f"Value({self.name!r}, shape={self.shape})"

    def topological_order(self) -> list[Value]:
        """Every Value this one depends on, each listed after all of its inputs (this one last)."""
        order: list[Value] = []
        seen: set[int] = set()

        def visit(node: Value) -> None:
            if id(node) in seen:
                return
            seen.add(id(node))
            for parent in node.parents:
                visit(parent)
            order.append(node)

        visit(self)
        return order

    def backward(self, dout: ArrayLike | None = None) -> None:
        """Set ``grad`` of every Value this one depends on; ``dout`` defaults to 1 for a scalar output."""
        if dout is None:
            if self.data.size != 1:
                raise ValueError(f"backward() without dout needs a scalar output; {self!r} has "
                                 f"{self.data.size} entries: pass dout of shape {self.shape}")
            dout = np.ones_like(self.data)
        dout = np.array(dout, dtype=np.float64)
        if dout.shape != self.shape:
            raise ValueError(f"backward(dout): dout has shape {dout.shape}, {self!r} has shape {self.shape}")

        order = self.topological_order()
        # Gradients are recomputed from zero on every call: they never pile up across calls.
        for node in order:
            node.grad = np.zeros_like(node.data)
        self.grad = dout
        # Reversed topological order: a node's grad is complete (every consumer has added to
        # it) before it is passed on to the node's inputs.
        for node in reversed(order):
            if node.op is None:
                continue  # a leaf: an input or a parameter
            grads = node.op.backward(node.ctx, node.grad)
            if len(grads) != len(node.parents):
                raise ValueError(f"the backward of {node.op.name!r} returned {len(grads)} gradients "
                                 f"for {len(node.parents)} inputs")
            for position, (parent, grad) in enumerate(zip(node.parents, grads)):
                if grad is None:
                    continue  # this input needs no gradient (e.g. a target)
                grad = np.asarray(grad, dtype=np.float64)
                if grad.shape != parent.shape:
                    raise ValueError(f"the backward of {node.op.name!r} returned a gradient of shape "
                                     f"{grad.shape} for input {position} ({parent!r}); a gradient has "
                                     f"the shape of its input")
                # A Value used by several ops collects the gradient of every use (chain rule: sum over paths).
                parent.grad = parent.grad + grad


class Op:
    """An operation: ``forward(ctx, *arrays) -> array`` and ``backward(ctx, dout) -> one gradient per input``."""

    def __init__(self, name: str, forward: ForwardFn, backward: BackwardFn) -> None:
        """Name the op and keep its two functions; ``backward`` may return None for an input."""
        self.name = name
        self.forward = forward
        self.backward = backward

    def __repr__(self) -> str:
        """The op's name, e.g. ``Op('linear')``."""
        return f"Op({self.name!r})"

    def __call__(self, *inputs: Value | ArrayLike) -> Value:
        """Apply the op: run forward on the inputs' arrays and return the output as a new Value."""
        parents = tuple(x if isinstance(x, Value) else Value(x) for x in inputs)
        ctx = Context()
        out = self.forward(ctx, *(parent.data for parent in parents))
        return Value(out, parents=parents, op=self, ctx=ctx)


def _torch(a: Array) -> torch.Tensor:
    """A float64 torch tensor sharing memory with ``a`` (forward passes only; never written to)."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


# --------------------------------------------------------------------------- ops with a given backward

def _add_forward(ctx: Context, a: Array, b: Array) -> Array:
    return a + b


def _add_backward(ctx: Context, dout: Array) -> tuple[Array, Array]:
    return dout, dout  # d(a + b)/da = d(a + b)/db = identity


def _mul_forward(ctx: Context, a: Array, b: Array) -> Array:
    ctx.save(a, b)
    return a * b


def _mul_backward(ctx: Context, dout: Array) -> tuple[Array, Array]:
    a, b = ctx.saved
    return dout * b, dout * a


def _total_forward(ctx: Context, a: Array) -> Array:
    ctx.save(a.shape)
    return np.array(a.sum())


def _total_backward(ctx: Context, dout: Array) -> tuple[Array]:
    (shape,) = ctx.saved
    return (np.full(shape, float(dout)),)  # every entry moves the sum one for one


def _row_sum_forward(ctx: Context, a: Array) -> Array:
    ctx.save(a.shape)
    return a.sum(axis=1, keepdims=True)


def _row_sum_backward(ctx: Context, dout: Array) -> tuple[Array]:
    (shape,) = ctx.saved
    return (np.broadcast_to(dout, shape).copy(),)  # each entry of a row moves its row's sum one for one


#: Elementwise a + b (same shapes).
add = Op("add", _add_forward, _add_backward)
#: Elementwise a * b (same shapes).
mul = Op("mul", _mul_forward, _mul_backward)
#: The sum of all entries, a scalar (shape ()).
total = Op("total", _total_forward, _total_backward)
#: Row sums: (n, k) -> (n, 1).
row_sum = Op("row_sum", _row_sum_forward, _row_sum_backward)


# --------------------------------------------------------------------------- ops whose backward you pass in

def linear_op(linear_backward: Callable[..., tuple[Array, Array, Array]]) -> Op:
    """``x @ W + b`` for x (B, in), W (in, out), b (1, out); backward: ``linear_backward(x, W, b, dout)``."""
    def forward(ctx: Context, x: Array, W: Array, b: Array) -> Array:
        ctx.save(x, W, b)
        return x @ W + b

    def backward(ctx: Context, dout: Array) -> tuple[Array, Array, Array]:
        dx, dW, db = linear_backward(*ctx.saved, dout)
        return dx, dW, db

    return Op("linear", forward, backward)


def leaky_relu_op(leaky_relu_grad: Callable[[Array, float], Array], alpha: float = 0.01) -> Op:
    """LeakyReLU with slope ``alpha``; backward: ``dout * leaky_relu_grad(z, alpha)`` (a diagonal Jacobian)."""
    def forward(ctx: Context, z: Array) -> Array:
        ctx.save(z)
        return F.leaky_relu(_torch(z), negative_slope=alpha).numpy().copy()

    def backward(ctx: Context, dout: Array) -> tuple[Array]:
        (z,) = ctx.saved
        return (dout * leaky_relu_grad(z, alpha),)

    return Op("leaky_relu", forward, backward)


def softmax_ce_op(softmax_ce_grad: Callable[[Array, Array], Array]) -> Op:
    """Mean softmax cross-entropy of logits (B, C) and one-hot targets (B, C); backward row by row.

    The objective is the mean over the batch, so each row's gradient ``softmax_ce_grad(z, t)``
    is divided by B. The targets get no gradient.
    """
    def forward(ctx: Context, logits: Array, targets: Array) -> Array:
        ctx.save(logits, targets)
        return F.cross_entropy(_torch(logits), _torch(targets)).numpy().copy()

    def backward(ctx: Context, dout: Array) -> tuple[Array, None]:
        logits, targets = ctx.saved
        rows = [softmax_ce_grad(z, t) for z, t in zip(logits, targets)]
        return float(dout) * np.stack(rows) / len(logits), None

    return Op("softmax_ce", forward, backward)


def div_op(div_backward: Callable[[Array, Array, Array], tuple[Array, Array]]) -> Op:
    """Elementwise ``X / Y``; backward: ``div_backward(X, Y, dout) -> (dX, dY)``."""
    def forward(ctx: Context, X: Array, Y: Array) -> Array:
        ctx.save(X, Y)
        return X / Y

    def backward(ctx: Context, dout: Array) -> tuple[Array, Array]:
        X, Y = ctx.saved
        dX, dY = div_backward(X, Y, dout)
        return dX, dY

    return Op("div", forward, backward)


def expand_op(expand_backward: Callable[[Array], Array], k: int) -> Op:
    """A column (n, 1) copied into k columns, ``x 1ᵀ`` (n, k); backward: ``expand_backward(dout)``."""
    def forward(ctx: Context, x: Array) -> Array:
        return np.repeat(x, k, axis=1)

    def backward(ctx: Context, dout: Array) -> tuple[Array]:
        return (expand_backward(dout),)

    return Op("expand", forward, backward)
