"""Hidden tests of 08_cnn: numpy ``Conv2D`` and ``MaxPool2D`` against torch.autograd, and the
PyTorch ``UntiedBiasConv2d`` and ``ConvNet``.

The oracles are computed here in float64: ``torch.nn.functional.conv2d`` and
``torch.nn.functional.max_pool2d`` with ``torch.autograd.grad(out, inputs, grad_outputs=delta)``
for what ``backward(delta)`` must return and store; ``conv2d(x, weight) + bias`` for the untied
bias; the parameter count of ``ConvNet`` from the architecture the notebook describes.

Configurations cover stride 1 and 2, padding 0, 1 and 2, kernel sizes 1 to 5, odd and even
sizes, rectangular images, a batch of one, in_channels == out_channels (where a transposed
dW has the right shape), overlapping pooling windows and ties in max pooling. When a value is
wrong, the hint names the likely mistake if the student's value matches a known wrong answer
computed here from the oracle; expected values are never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from handgrad import checks

MakeLayer = Callable[..., Any]

HINT_OUT = ("out[n, o, i, j] = b[o] + sum over c, u, v of W[o, c, u, v] * x_pad[n, c, i*stride + u, j*stride + v] "
            "(section 2); out has shape (B, out, H_out, W_out)")
HINT_DX = ("dx scatters every window's gradient sum_o delta[n, o, i, j] * W[o] back onto the padded input "
           "(adding where windows overlap), then drops the padding: dx has x's shape (section 4)")
HINT_DW = ("dW[o, c, u, v] pairs delta[n, o, i, j] with the input value that W[o, c, u, v] multiplied in the "
           "forward pass, summed over the batch and every output position (section 4)")
HINT_DB = "db has shape (out,): the bias is shared by every position and every sample, so sum delta over (B, H, W)"
HINT_DIV_B = ("it looks divided by B: delta already is the gradient of the MEAN loss (the 1/B is inside it), "
              "so the layer must not divide again")
HINT_POOL = ("each output is the max of one window; in backward its gradient goes to the position of that max "
             "only (on ties the first one in row-major order), added up where windows overlap (section 5)")


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def _tensor(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def conv_oracle(x: np.ndarray, W: np.ndarray, b: np.ndarray, delta: np.ndarray | None, stride: int,
                padding: int) -> tuple[np.ndarray, ...]:
    """(out, dx, dW, db) of ``conv2d(x, W, b, stride, padding)``; without delta only (out,)."""
    xt, Wt, bt = _tensor(x, True), _tensor(W, True), _tensor(b, True)
    out = F.conv2d(xt, Wt, bt, stride=stride, padding=padding)
    if delta is None:
        return (out.detach().numpy(),)
    dx, dW, db = torch.autograd.grad(out, (xt, Wt, bt), grad_outputs=_tensor(delta))
    return out.detach().numpy(), dx.numpy(), dW.numpy(), db.numpy()


def pool_oracle(x: np.ndarray, delta: np.ndarray | None, kernel: int, stride: int) -> tuple[np.ndarray, ...]:
    """(out, dx) of ``max_pool2d(x, kernel, stride)``; without delta only (out,)."""
    xt = _tensor(x, True)
    out = F.max_pool2d(xt, kernel, stride)
    if delta is None:
        return (out.detach().numpy(),)
    (dx,) = torch.autograd.grad(out, (xt,), grad_outputs=_tensor(delta))
    return out.detach().numpy(), dx.numpy()


# --------------------------------------------------------------------------- Conv2D


@dataclass
class ConvCase:
    """One convolution: sizes, x (B, C, H, W), W (out, C, k, k), b (out,), delta, and the oracle."""

    check_id: str
    batch: int
    c_in: int
    c_out: int
    height: int
    width: int
    kernel: int
    stride: int
    padding: int

    def __post_init__(self) -> None:
        generator = checks.rng(self.check_id)
        self.x = generator.normal(size=(self.batch, self.c_in, self.height, self.width))
        self.W = generator.normal(size=(self.c_out, self.c_in, self.kernel, self.kernel))
        self.b = generator.normal(size=self.c_out)
        h_out = conv_out_size(self.height, self.kernel, self.stride, self.padding)
        w_out = conv_out_size(self.width, self.kernel, self.stride, self.padding)
        self.delta = generator.normal(size=(self.batch, self.c_out, h_out, w_out)) / self.batch
        self.out, self.dx, self.dW, self.db = conv_oracle(self.x, self.W, self.b, self.delta, self.stride,
                                                          self.padding)

    @property
    def describe(self) -> str:
        return (f"Conv2D({self.c_in}, {self.c_out}, kernel_size={self.kernel}, stride={self.stride}, "
                f"padding={self.padding}) on x of shape {self.x.shape}")

    def weight_init_fn(self, *shape: int) -> np.ndarray:
        """A fresh copy of W when asked for (out, in, k, k); another array otherwise."""
        if tuple(int(n) for n in shape) != self.W.shape:
            return np.full(tuple(int(n) for n in shape), 100.0)
        return self.W.copy()

    def bias_init_fn(self, n_out: int) -> np.ndarray:
        """A fresh copy of b, shape (out,)."""
        if int(n_out) != self.c_out:
            return np.full(int(n_out), 100.0)
        return self.b.copy()

    def make(self, make: MakeLayer) -> Any:
        return checks.call(f"Conv2D({self.c_in}, {self.c_out}, {self.kernel}, stride={self.stride}, "
                           f"padding={self.padding}, weight_init_fn=..., bias_init_fn=...)", make,
                           self.c_in, self.c_out, self.kernel, stride=self.stride, padding=self.padding,
                           weight_init_fn=self.weight_init_fn, bias_init_fn=self.bias_init_fn)


# (B, C_in, C_out, H, W, k, stride, padding); None entries are drawn from the case's generator.
Config = tuple[int | None, ...]
CONV_CONFIGS: list[Config] = [
    (None, None, None, None, None, 3, 1, 0),
    (None, None, None, None, None, 3, 1, 1),
    (None, None, None, None, None, 3, 2, 1),
    (None, None, None, None, None, 4, 2, 2),
    (None, None, None, None, None, 5, 1, 2),
    (None, None, None, None, None, 2, 2, 0),
    (1, None, None, 7, 9, 3, 2, 0),            # a single sample; odd, rectangular; a ragged last window
    (None, 3, 3, 8, 8, 3, 1, 1),               # in == out: a transposed dW has the right shape
    (None, None, None, 6, 5, 1, 1, 0),         # 1x1 convolution
    (2, 2, 3, 9, 7, 3, 2, 2),                  # stride and padding together, odd sizes
]


def conv_case(check_id: str, config: Config) -> ConvCase:
    """A ConvCase from a configuration, filling the None entries from the check's generator."""
    generator = checks.rng(f"{check_id}.sizes")
    batch, c_in, c_out, height, width, kernel, stride, padding = config
    k = int(kernel or 3)
    while True:
        drawn = [int(v) for v in generator.integers(2, 6, size=3)]
        if c_in is None and c_out is None and drawn[1] == drawn[2]:
            continue
        break
    size = [int(v) for v in generator.integers(max(k, 5), 11, size=2)]
    return ConvCase(check_id, batch=int(batch or drawn[0]), c_in=int(c_in or drawn[1]), c_out=int(c_out or drawn[2]),
                    height=int(height or size[0]), width=int(width or size[1]), kernel=k,
                    stride=int(stride or 1), padding=int(padding or 0))


def check_conv_init(notebook: str, make: MakeLayer) -> None:
    """W and b as the init functions give them; dW, db zeros; the default init gives the right shapes."""
    prefix = f"{notebook}.conv.init"
    for number, config in enumerate([CONV_CONFIGS[1], CONV_CONFIGS[3]]):
        check_id = f"{prefix}.{number}"
        case = conv_case(check_id, config)
        layer = case.make(make)
        what = f"after {case.describe.split(' on ')[0]}"
        checks.close(f"{check_id}.W", getattr(layer, "W", None), case.W, what=f"layer.W {what}",
                     hint="W is what weight_init_fn(out_channels, in_channels, k, k) returns, shape (out, in, k, k)")
        checks.close(f"{check_id}.b", getattr(layer, "b", None), case.b, what=f"layer.b {what}",
                     hint="b is what bias_init_fn(out_channels) returns, shape (out,)")
        checks.close(f"{check_id}.dW", getattr(layer, "dW", None), np.zeros_like(case.W), what=f"layer.dW {what}",
                     hint="dW starts as zeros of W's shape (out, in, k, k)")
        checks.close(f"{check_id}.db", getattr(layer, "db", None), np.zeros_like(case.b), what=f"layer.db {what}",
                     hint="db starts as zeros of b's shape (out,)")
    # Without init functions: a random W of shape (out, in, k, k) and a zero bias (out,).
    check_id = f"{prefix}.default"
    layer = checks.call("Conv2D(3, 5, 2)", make, 3, 5, 2)
    W, b = getattr(layer, "W", None), getattr(layer, "b", None)
    checks.same(f"{check_id}.W_shape", str(tuple(np.shape(W))) if W is not None else "None", "(5, 3, 2, 2)",
                what="the shape of layer.W after Conv2D(3, 5, 2) (no weight_init_fn)",
                hint="without weight_init_fn, draw W at random with shape (out, in, k, k)")
    checks.close(f"{check_id}.b", b, np.zeros(5), what="layer.b after Conv2D(3, 5, 2) (no bias_init_fn)",
                 hint="without bias_init_fn the bias starts at zeros of shape (out,)")


def check_conv_forward(notebook: str, make: MakeLayer) -> None:
    """forward against conv2d over all configurations; x left unchanged; the current W, b used."""
    prefix = f"{notebook}.conv.forward"
    for number, config in enumerate(CONV_CONFIGS):
        check_id = f"{prefix}.{number}"
        case = conv_case(check_id, config)
        layer = case.make(make)
        x_given = case.x.copy()
        out = checks.call("layer.forward(x)", layer.forward, x_given)
        checks.unchanged(f"{check_id}.input", case.x, x_given, what=f"x after layer.forward(x) ({case.describe})")
        flipped = conv_oracle(case.x, case.W[:, :, ::-1, ::-1].copy(), case.b, None, case.stride, case.padding)[0]
        suspects = [(flipped, ("this is a true convolution (kernel flipped); conv2d in PyTorch and in this course "
                              "is a cross-correlation: W[o, c, u, v] multiplies x_pad[.., i*s + u, j*s + v]")),
                    (case.out - case.b.reshape(1, -1, 1, 1), "the bias is missing")]
        checks.close(f"{check_id}.out", out, case.out, what=f"layer.forward(x) for {case.describe}",
                     hint=checks.diagnose(out, HINT_OUT, suspects))

    check_id = f"{prefix}.new_parameters"
    case = conv_case(check_id, CONV_CONFIGS[2])
    layer = case.make(make)
    generator = checks.rng(f"{check_id}.new")
    new_W, new_b = generator.normal(size=case.W.shape), generator.normal(size=case.b.shape)
    layer.W, layer.b = new_W.copy(), new_b.copy()
    out = checks.call("layer.forward(x)", layer.forward, case.x.copy())
    checks.close(f"{check_id}.out", out, conv_oracle(case.x, new_W, new_b, None, case.stride, case.padding)[0],
                 what=f"layer.forward(x) after assigning new arrays to layer.W and layer.b ({case.describe})",
                 hint="forward must read self.W and self.b as they are now, not copies kept from __init__")


def _forward_backward(case: ConvCase, make: MakeLayer) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """A fresh layer, forward(x) then backward(delta) on copies; (layer, dx, x copy, delta copy)."""
    layer = case.make(make)
    x_given, delta_given = case.x.copy(), case.delta.copy()
    checks.call("layer.forward(x)", layer.forward, x_given)
    dx = checks.call("layer.backward(delta)", layer.backward, delta_given)
    return layer, dx, x_given, delta_given


def check_conv_dx(notebook: str, make: MakeLayer) -> None:
    """dx against autograd over all configurations; neither x nor delta modified."""
    prefix = f"{notebook}.conv.dx"
    for number, config in enumerate(CONV_CONFIGS):
        check_id = f"{prefix}.{number}"
        case = conv_case(check_id, config)
        _, dx, x_given, delta_given = _forward_backward(case, make)
        checks.unchanged(f"{check_id}.delta", case.delta, delta_given, what=f"delta after layer.backward(delta) "
                                                                           f"({case.describe})")
        checks.unchanged(f"{check_id}.input", case.x, x_given, what=f"x after forward(x) and backward(delta) "
                                                                   f"({case.describe})")
        flipped = conv_oracle(case.x, case.W[:, :, ::-1, ::-1].copy(), case.b, case.delta, case.stride,
                              case.padding)[1]
        suspects = [(case.dx / case.batch, HINT_DIV_B),
                    (flipped, ("dx uses the kernel flipped relative to the forward pass: scatter each window's "
                              "gradient with the same W[o, c, u, v] that forward used at offset (u, v)"))]
        checks.close(f"{check_id}.dx", dx, case.dx, what=f"dx = layer.backward(delta) for {case.describe}",
                     hint=checks.diagnose(dx, HINT_DX, suspects))


def _check_conv_params(check_id: str, layer: Any, case: ConvCase, what: str,
                       extra_dW: list[tuple[np.ndarray, str]] | None = None,
                       extra_db: list[tuple[np.ndarray, str]] | None = None) -> None:
    """layer.dW and layer.db against the oracle of ``case``, with hints for the usual mistakes."""
    dW, db = getattr(layer, "dW", None), getattr(layer, "db", None)
    suspects_dW = [*(extra_dW or []), (case.dW / case.batch, HINT_DIV_B),
                   (case.dW[:, :, ::-1, ::-1].copy(), ("dW is flipped: dW[o, c, u, v] belongs to the input at offset "
                                                      "(u, v) of each window, as in the forward pass")),
                   (case.dW.transpose(1, 0, 2, 3).copy(), ("dW looks transposed: it has W's shape (out, in, k, k), "
                                                          "output channel first"))]
    checks.close(f"{check_id}.dW", dW, case.dW, what=f"layer.dW after {what}",
                 hint=checks.diagnose(dW, HINT_DW, suspects_dW))
    suspects_db = [*(extra_db or []), (case.db / case.batch, HINT_DIV_B),
                   (case.delta.sum(axis=0), ("db is summed over the batch only: the bias is also shared by every "
                                            "position, sum over (B, H_out, W_out)")),
                   (case.delta.sum(axis=(2, 3)), "db is summed over positions only: sum over the batch too")]
    checks.close(f"{check_id}.db", db, case.db, what=f"layer.db after {what}",
                 hint=checks.diagnose(db, HINT_DB, suspects_db))


def check_conv_params(notebook: str, make: MakeLayer) -> None:
    """dW and db against autograd over all configurations."""
    prefix = f"{notebook}.conv.params"
    for number, config in enumerate(CONV_CONFIGS):
        check_id = f"{prefix}.{number}"
        case = conv_case(check_id, config)
        layer, *_ = _forward_backward(case, make)
        _check_conv_params(check_id, layer, case, what=f"layer.backward(delta) for {case.describe}")


def check_conv_state(notebook: str, make: MakeLayer) -> None:
    """Backward uses the last forward (another shape); a second backward overwrites; W, b untouched."""
    prefix = f"{notebook}.conv.state"
    check_id = f"{prefix}.last_input"
    first = ConvCase(f"{check_id}.first", batch=3, c_in=2, c_out=4, height=8, width=8, kernel=3, stride=1, padding=1)
    second = ConvCase(f"{check_id}.second", batch=2, c_in=2, c_out=4, height=7, width=5, kernel=3, stride=1,
                      padding=1)
    second.W, second.b = first.W, first.b
    second.out, second.dx, second.dW, second.db = conv_oracle(second.x, second.W, second.b, second.delta, 1, 1)
    layer = first.make(make)
    checks.call("layer.forward(x1)", layer.forward, first.x.copy())
    checks.call("layer.backward(delta1)", layer.backward, first.delta.copy())
    checks.call("layer.forward(x2)", layer.forward, second.x.copy())
    dx = checks.call("layer.backward(delta2)", layer.backward, second.delta.copy())
    what = (f"forward(x1 {first.x.shape}), backward, forward(x2 {second.x.shape}), backward(delta2) "
            f"(Conv2D(2, 4, 3, padding=1))")
    checks.close(f"{check_id}.dx", dx, second.dx, what=f"dx after {what}",
                 hint="backward must use the input of the LAST forward (store it on every call)")
    summed = "backward adds to dW/db: it must overwrite them (each backward gives the gradient of one batch)"
    _check_conv_params(check_id, layer, second, what=what, extra_dW=[(first.dW + second.dW, summed)],
                       extra_db=[(first.db + second.db, summed)])

    check_id = f"{prefix}.overwrite"
    case = ConvCase(f"{check_id}.case", batch=2, c_in=3, c_out=2, height=6, width=6, kernel=3, stride=2, padding=1)
    delta2 = checks.rng(f"{check_id}.delta2").normal(size=case.delta.shape) / case.batch
    second = ConvCase(f"{check_id}.case", batch=2, c_in=3, c_out=2, height=6, width=6, kernel=3, stride=2, padding=1)
    second.delta = delta2
    second.out, second.dx, second.dW, second.db = conv_oracle(case.x, case.W, case.b, delta2, 2, 1)
    layer = case.make(make)
    checks.call("layer.forward(x)", layer.forward, case.x.copy())
    checks.call("layer.backward(delta1)", layer.backward, case.delta.copy())
    checks.call("layer.backward(delta2)", layer.backward, delta2.copy())
    summed = "backward adds to dW/db: it must overwrite them (each backward gives the gradient of one batch)"
    _check_conv_params(check_id, layer, second, what="forward(x), backward(delta1), backward(delta2)",
                       extra_dW=[(case.dW + second.dW, summed)], extra_db=[(case.db + second.db, summed)])

    check_id = f"{prefix}.parameters_untouched"
    case = conv_case(check_id, CONV_CONFIGS[1])
    layer, *_ = _forward_backward(case, make)
    # b is compared flattened, so that a b stored as (1, out) costs the points of check_conv_init only.
    for name, value in (("W", case.W), ("b", case.b)):
        now = getattr(layer, name, None)
        checks.close(f"{check_id}.{name}", _flat(now) if name == "b" else now, value,
                     what=f"layer.{name} after forward(x) and backward(delta)",
                     hint="forward and backward must not change the parameters: the optimizer updates them later")


def _flat(value: Any) -> Any:
    """A numeric value as a flat float64 array; anything else unchanged (the comparison then says what it is)."""
    try:
        return np.array(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return value


# --------------------------------------------------------------------------- MaxPool2D


@dataclass
class PoolCase:
    """One max pooling: x (B, C, H, W) (with ties when ``ties``), delta, and the oracle."""

    check_id: str
    batch: int
    channels: int
    height: int
    width: int
    kernel: int
    stride: int | None
    ties: bool = False

    def __post_init__(self) -> None:
        generator = checks.rng(self.check_id)
        shape = (self.batch, self.channels, self.height, self.width)
        # Ties: small integers, so most windows hold their maximum twice or more.
        self.x = generator.integers(0, 3, size=shape).astype(np.float64) if self.ties else generator.normal(size=shape)
        step = self.kernel if self.stride is None else self.stride
        h_out, w_out = conv_out_size(self.height, self.kernel, step, 0), conv_out_size(self.width, self.kernel, step, 0)
        self.delta = generator.normal(size=(self.batch, self.channels, h_out, w_out)) / self.batch
        self.out, self.dx = pool_oracle(self.x, self.delta, self.kernel, step)

    @property
    def describe(self) -> str:
        stride = "" if self.stride is None else f", stride={self.stride}"
        ties = " with ties" if self.ties else ""
        return f"MaxPool2D({self.kernel}{stride}) on x of shape {self.x.shape}{ties}"

    def make(self, make: MakeLayer) -> Any:
        if self.stride is None:
            return checks.call(f"MaxPool2D({self.kernel})", make, self.kernel)
        return checks.call(f"MaxPool2D({self.kernel}, stride={self.stride})", make, self.kernel, stride=self.stride)


# (B, C, H, W, kernel, stride); stride None: the default (the kernel size).
POOL_CONFIGS: list[tuple[int, int, int, int, int, int | None]] = [
    (3, 2, 8, 8, 2, None),
    (2, 3, 7, 9, 2, None),       # odd sizes: the last row/column is dropped
    (2, 2, 9, 9, 3, 2),          # overlapping windows
    (1, 3, 6, 5, 2, 1),          # overlapping, a single sample
    (2, 2, 8, 6, 3, 3),
    (2, 1, 7, 7, 3, 1),
]


def check_pool_forward(notebook: str, make: MakeLayer) -> None:
    """forward against max_pool2d (default stride, overlapping windows, odd sizes); x unchanged."""
    prefix = f"{notebook}.pool.forward"
    for number, (batch, channels, height, width, kernel, stride) in enumerate(POOL_CONFIGS):
        check_id = f"{prefix}.{number}"
        case = PoolCase(check_id, batch, channels, height, width, kernel, stride)
        layer = case.make(make)
        x_given = case.x.copy()
        out = checks.call("pool.forward(x)", layer.forward, x_given)
        checks.unchanged(f"{check_id}.input", case.x, x_given, what=f"x after pool.forward(x) ({case.describe})")
        checks.close(f"{check_id}.out", out, case.out, what=f"pool.forward(x) for {case.describe}",
                     hint="out[n, c, i, j] is the max of x[n, c, i*s : i*s + k, j*s : j*s + k]; the stride defaults "
                          "to the kernel size; H_out = (H - k) // s + 1")


def _every_position(case: PoolCase) -> np.ndarray:
    """The wrong answer that sends each window's gradient to all of its k*k positions."""
    step = case.kernel if case.stride is None else case.stride
    ones = torch.ones(1, 1, case.kernel, case.kernel, dtype=torch.float64)
    channels = case.delta.reshape(-1, 1, *case.delta.shape[2:])
    spread = F.conv_transpose2d(_tensor(channels), ones, stride=step)
    full = np.zeros((channels.shape[0], 1, case.height, case.width))
    h, w = min(case.height, spread.shape[2]), min(case.width, spread.shape[3])
    full[:, :, :h, :w] = spread.numpy()[:, :, :h, :w]
    return full.reshape(case.x.shape)


def check_pool_backward(notebook: str, make: MakeLayer) -> None:
    """dx against autograd of max_pool2d, with random values and with ties; x and delta unchanged; stale state."""
    prefix = f"{notebook}.pool.backward"
    configs = [(*config, False) for config in POOL_CONFIGS] + [(*config, True) for config in POOL_CONFIGS[:4]]
    for number, (batch, channels, height, width, kernel, stride, ties) in enumerate(configs):
        check_id = f"{prefix}.{number}"
        case = PoolCase(check_id, batch, channels, height, width, kernel, stride, ties)
        layer = case.make(make)
        x_given, delta_given = case.x.copy(), case.delta.copy()
        checks.call("pool.forward(x)", layer.forward, x_given)
        dx = checks.call("pool.backward(delta)", layer.backward, delta_given)
        checks.unchanged(f"{check_id}.delta", case.delta, delta_given, what=f"delta after pool.backward(delta) "
                                                                           f"({case.describe})")
        checks.unchanged(f"{check_id}.input", case.x, x_given, what=f"x after forward and backward ({case.describe})")
        hint = HINT_POOL
        if ties:
            hint = ("with ties, the gradient goes to ONE position per window: the first maximum in row-major order "
                    "(what np.argmax over the flattened window gives), as in PyTorch")
        suspects = [(_every_position(case), ("the gradient went to every position of the window: only the max "
                                            "influenced the output, so only it gets the gradient"))]
        checks.close(f"{check_id}.dx", dx, case.dx, what=f"dx = pool.backward(delta) for {case.describe}",
                     hint=checks.diagnose(dx, hint, suspects))

    # Stale state: two forwards of different shapes, then backward.
    check_id = f"{prefix}.last_input"
    first = PoolCase(f"{check_id}.first", 2, 2, 8, 8, 2, None)
    second = PoolCase(f"{check_id}.second", 3, 2, 6, 10, 2, None)
    layer = first.make(make)
    checks.call("pool.forward(x1)", layer.forward, first.x.copy())
    checks.call("pool.backward(delta1)", layer.backward, first.delta.copy())
    checks.call("pool.forward(x2)", layer.forward, second.x.copy())
    dx = checks.call("pool.backward(delta2)", layer.backward, second.delta.copy())
    checks.close(f"{check_id}.dx", dx, second.dx,
                 what=f"dx after forward(x1 {first.x.shape}), backward, forward(x2 {second.x.shape}), backward",
                 hint="backward must use what the LAST forward stored (its shape and its max positions)")


# --------------------------------------------------------------------------- UntiedBiasConv2d


def _to_numpy(value: Any) -> Any:
    """A torch tensor as a detached float64 numpy copy; anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64).cpu().numpy().copy()
    return value


def _parameter_shapes(module: Any) -> dict[str, tuple[int, ...]]:
    """name -> shape of every parameter of a module."""
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def _untied_run(module: Any, weight: np.ndarray, bias: np.ndarray, x: np.ndarray,
                delta: np.ndarray) -> tuple[Any, ...]:
    """The module in float64 with these parameters: its output on x and autograd's (dx, dweight, dbias)."""
    module.double()
    with torch.no_grad():
        module.weight.copy_(_tensor(weight))
        module.bias.copy_(_tensor(bias))
    xt = _tensor(x, True)
    out = module(xt)
    grads = torch.autograd.grad(out, (xt, module.weight, module.bias), grad_outputs=_tensor(delta),
                                allow_unused=True)
    return (_to_numpy(out), *(_to_numpy(g) for g in grads))


UNTIED_CONFIGS: list[tuple[int, int, int, int, int | tuple[int, int], int]] = [
    # (B, C_in, C_out, kernel, input_size, padding)
    (2, 3, 4, 3, 8, 0),
    (3, 2, 5, 3, (7, 9), 1),
    (1, 1, 3, 5, (10, 6), 2),
    (2, 4, 2, 1, 5, 0),
]


def check_untied(notebook: str, make: MakeLayer) -> None:
    """Parameters weight (out, in, k, k) and bias (out, H_out, W_out); output and all gradients against
    ``conv2d(x, weight, padding) + bias`` computed here."""
    prefix = f"{notebook}.untied"
    for number, (batch, c_in, c_out, kernel, input_size, padding) in enumerate(UNTIED_CONFIGS):
        check_id = f"{prefix}.{number}"
        height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
        h_out, w_out = conv_out_size(height, kernel, 1, padding), conv_out_size(width, kernel, 1, padding)
        described = f"UntiedBiasConv2d({c_in}, {c_out}, {kernel}, input_size={input_size}, padding={padding})"
        module = checks.call_torch(described, make, c_in, c_out, kernel, input_size, padding=padding)
        names = checks.call_torch(f"{described}.named_parameters()", _parameter_shapes, module)
        for name, shape in (("weight", (c_out, c_in, kernel, kernel)), ("bias", (c_out, h_out, w_out))):
            checks.same(f"{check_id}.{name}_shape", str(names.get(name)), str(shape),
                        what=f"the shape of the parameter `{name}` of {described} (None: no such nn.Parameter)",
                        hint="weight is (out_channels, in_channels, k, k); the untied bias has one value per output "
                             "channel AND output location, (out_channels, H_out, W_out) with "
                             "H_out = H + 2*padding - k + 1; both are nn.Parameters")
        generator = checks.rng(check_id)
        weight = generator.normal(size=(c_out, c_in, kernel, kernel))
        bias = generator.normal(size=(c_out, h_out, w_out))
        x = generator.normal(size=(batch, c_in, height, width))
        delta = generator.normal(size=(batch, c_out, h_out, w_out)) / batch

        out, dx, dweight, dbias = checks.call_torch(f"{described}(x) and autograd through it", _untied_run,
                                                    module, weight, bias, x, delta)
        xt, wt, bt = _tensor(x, True), _tensor(weight, True), _tensor(bias, True)
        expected = F.conv2d(xt, wt, padding=padding) + bt.unsqueeze(0)
        grads = torch.autograd.grad(expected, (xt, wt, bt), grad_outputs=_tensor(delta))
        what = f"{described} on x of shape {x.shape}"
        tied = (F.conv2d(xt, wt, padding=padding) + bt.mean(dim=(1, 2)).reshape(1, -1, 1, 1)).detach().numpy()
        checks.close(f"{check_id}.out", out, expected.detach().numpy(), what=f"the output of {what}",
                     hint=checks.diagnose(out, "out = conv2d(x, weight, padding=padding) + bias, the bias (out, "
                                               "H_out, W_out) added to every sample of the batch",
                                          [(tied, ("the bias looks shared over positions: untied means one bias "
                                                  "value per location"))]))
        for label, got, oracle in (("dx", dx, grads[0]), ("dweight", dweight, grads[1]), ("dbias", dbias, grads[2])):
            checks.close(f"{check_id}.{label}", got, oracle.numpy(), what=f"autograd's {label} through {what}",
                         hint="let autograd do the backward: build the output from weight and bias with torch "
                              "operations (no .data, no numpy, no detach)")


# --------------------------------------------------------------------------- ConvNet

# The seed network, as the notebook describes it: channel plan for width w, "M" = max pooling
# (kernel 3, stride 2, padding 1); every 3x3 convolution (padding 1, no bias) is followed by
# BatchNorm2d and ReLU; after the last pooling the (8w, 1, 1) map is flattened into Linear(8w, n_classes).
def convnet_plan(width: int = 64) -> list[int | str]:
    """The layer plan of ConvNet for a width (64 is the seed's)."""
    w = width
    return [w, "M", 2 * w, "M", 4 * w, 4 * w, "M", 8 * w, 8 * w, "M", 8 * w, 8 * w, "M"]


def convnet_parameters(n_channels: int, n_classes: int, width: int = 64) -> tuple[int, int]:
    """(number of parameters, number of conv output channels): from the plan above."""
    total, channels, conv_outputs = 0, n_channels, 0
    for entry in convnet_plan(width):
        if entry == "M":
            continue
        out = int(entry)
        total += channels * out * 9 + 2 * out        # conv weights (no bias) + BatchNorm gamma, beta
        conv_outputs += out
        channels = out
    return total + channels * n_classes + n_classes, conv_outputs


def _count_parameters(net: Any) -> int:
    """The number of scalar parameters of a module."""
    return int(sum(p.numel() for p in net.parameters()))


def _output_shape(net: Any, mode: str, x: torch.Tensor) -> tuple[int, ...]:
    """The shape of the network's output on x, in train or eval mode, without autograd."""
    net.train(mode == "train")
    with torch.no_grad():
        return tuple(int(n) for n in net(x).shape)


def check_convnet(notebook: str, make: MakeLayer) -> None:
    """Output shape for 28x28 and 32x32 inputs (train and eval mode), and the parameter count, for 1 and 3 channels."""
    prefix = f"{notebook}.convnet"
    for n_channels, n_classes, size in ((1, 10, 28), (3, 10, 32), (1, 4, 32)):
        check_id = f"{prefix}.{n_channels}_{n_classes}_{size}"
        described = f"ConvNet({n_channels}, {n_classes})"
        net = checks.call_torch(described, make, n_channels, n_classes)
        count = checks.call_torch(f"the parameters of {described}", _count_parameters, net)
        expected, conv_outputs = convnet_parameters(n_channels, n_classes)
        hint = checks.diagnose(np.array(count, dtype=float), "count the layers of the description in section 7: "
                               "eight 3x3 convolutions with BatchNorm, five poolings, one linear layer",
                               [(np.array(expected + conv_outputs, dtype=float),
                                 ("the convolutions carry a bias: followed by BatchNorm it is redundant (BatchNorm's "
                                 "beta is the shift); use bias=False"))])
        checks.same(f"{check_id}.parameters", count, expected, what=f"the number of parameters of {described}",
                    hint=hint)
        generator = checks.rng(check_id)
        for mode, batch in (("train", 3), ("eval", 1)):
            x = torch.tensor(generator.normal(size=(batch, n_channels, size, size)), dtype=torch.float32)

            shape = checks.call_torch(f"{described} in {mode} mode on x of shape {tuple(x.shape)}", _output_shape,
                                      net, mode, x)
            checks.same(f"{check_id}.{mode}_shape", str(shape), str((batch, n_classes)),
                        what=f"the output shape of {described} ({mode} mode) for x of shape {tuple(x.shape)}",
                        hint="the network ends in Linear(8*width, n_classes): logits of shape (B, n_classes), "
                             "for 28x28 and 32x32 inputs (five poolings with kernel 3, stride 2, padding 1 "
                             "take both to 1x1)")
