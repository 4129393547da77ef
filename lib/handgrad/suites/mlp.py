"""Hidden tests of 06_mlp: ``MLP`` against an equivalent float64 torch model, and ``get_training_stats``
against a recording stand-in model.

The oracle network is built here from plain torch tensors with autograd: the same weights (the
test's ``weight_init_fn`` draws them from the check's own generator), Linear -> BatchNorm (first
``num_bn_layers`` layers, biased batch variance, ``eps = 1e-8``) -> activation, mean softmax
cross-entropy. ``torch.autograd.grad`` of that mean gives every gradient; the update
``v = momentum * v - lr * grad; p += v`` (plain SGD for gamma and beta) is done by hand in torch.

``get_training_stats`` is run on a :class:`SpyMLP`: it has the MLP's methods, records every call,
and returns logits that are a fixed function of the input rows, the mode (train or eval) and the
number of ``step()`` calls so far. From the record the tests tell whether each epoch trained on
every row once in a new order with the right labels, in train mode, forward -> backward -> step
per batch, and what the four figures must be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from handgrad import blocks, checks

MakeMLP = Callable[..., Any]     # MLP(input_size, output_size, hiddens, activations, ..., num_bn_layers)
TrainingStats = Callable[..., Any]  # get_training_stats(mlp, dset, nepochs, batch_size)

EPS = 1e-8      # BatchNorm's eps (COURSE.md)
ALPHA = 0.9     # weight of the old running statistics


# --------------------------------------------------------------------------- architectures


class Arch:
    """One network shape: sizes, activation names (one per linear layer), BatchNorm layers, batch size."""

    def __init__(self, name: str, input_size: int, hiddens: Sequence[int], output_size: int,
                 activations: Sequence[str], num_bn_layers: int, batch: int) -> None:
        self.name, self.input_size, self.output_size = name, input_size, output_size
        self.hiddens, self.activations = list(hiddens), list(activations)
        self.num_bn_layers, self.batch = num_bn_layers, batch
        self.sizes = [input_size, *self.hiddens, output_size]

    @property
    def describe(self) -> str:
        acts = ", ".join(self.activations)
        return (f"MLP({self.input_size}, {self.output_size}, hiddens={self.hiddens}, activations=[{acts}], "
                f"num_bn_layers={self.num_bn_layers})")


# Every layer size differs from the others and from the batch size, so a layer in the wrong place has the
# wrong shape. The last activation is not always Identity: applying it twice then shows.
ARCHS = {
    "none": Arch("none", 7, [], 4, ["Identity"], 0, 9),
    "one": Arch("one", 6, [8], 3, ["Sigmoid", "Identity"], 0, 11),
    "one_bn": Arch("one_bn", 6, [8], 4, ["ReLU", "Identity"], 1, 10),
    "three": Arch("three", 9, [12, 7, 5], 4, ["Tanh", "ReLU", "Sigmoid", "Tanh"], 0, 13),
    "three_bn": Arch("three_bn", 9, [11, 7, 6], 4, ["ReLU", "Tanh", "LeakyReLU", "Sigmoid"], 2, 10),
}

TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Identity": lambda z: z,
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "ReLU": torch.relu,
    "LeakyReLU": lambda z: F.leaky_relu(z, negative_slope=0.01),
}


def make_activation(name: str) -> blocks.Activation:
    """A fresh reference activation object of that name."""
    activation: blocks.Activation = getattr(blocks, name)()
    return activation


# --------------------------------------------------------------------------- the torch oracle


def _t(a: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


class TorchMLP:
    """The oracle: the same network in float64 torch, trained by hand with the contract's update."""

    def __init__(self, arch: Arch, Ws: list[np.ndarray], bs: list[np.ndarray]) -> None:
        self.arch = arch
        self.W = [_t(W) for W in Ws]
        self.b = [_t(b).reshape(1, -1) for b in bs]
        self.vW = [torch.zeros_like(W) for W in self.W]
        self.vb = [torch.zeros_like(b) for b in self.b]
        bn_sizes = arch.sizes[1:arch.num_bn_layers + 1]
        self.gamma = [torch.ones(1, n, dtype=torch.float64) for n in bn_sizes]
        self.beta = [torch.zeros(1, n, dtype=torch.float64) for n in bn_sizes]
        self.running_mean = [torch.zeros(1, n, dtype=torch.float64) for n in bn_sizes]
        self.running_var = [torch.ones(1, n, dtype=torch.float64) for n in bn_sizes]
        self.grads: dict[str, list[np.ndarray]] = {}

    def _params(self) -> list[torch.Tensor]:
        return [*self.W, *self.b, *self.gamma, *self.beta]

    def _run(self, x: np.ndarray, train: bool) -> torch.Tensor:
        out = _t(x)
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            out = out @ W + b
            if i < self.arch.num_bn_layers:
                if train:
                    mean = out.mean(dim=0, keepdim=True)
                    var = out.var(dim=0, unbiased=False, keepdim=True)
                    self.running_mean[i] = ALPHA * self.running_mean[i] + (1 - ALPHA) * mean.detach()
                    self.running_var[i] = ALPHA * self.running_var[i] + (1 - ALPHA) * var.detach()
                else:
                    mean, var = self.running_mean[i], self.running_var[i]
                out = self.gamma[i] * (out - mean) / torch.sqrt(var + EPS) + self.beta[i]
            out = TORCH_ACTIVATIONS[self.arch.activations[i]](out)
        return out

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """The network's output (train mode: batch statistics, and the running statistics are updated)."""
        with torch.no_grad():
            return self._run(x, train).numpy()

    def backward(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Forward in train mode, gradients of the mean loss into self.grads; returns the output."""
        for p in self._params():
            p.requires_grad_(True)
        out = self._run(x, train=True)
        loss = -(_t(labels) * F.log_softmax(out, dim=1)).sum(dim=1).mean()
        grads = torch.autograd.grad(loss, self._params())
        for p in self._params():
            p.requires_grad_(False)
        n, k = len(self.W), len(self.gamma)
        arrays = [g.numpy().copy() for g in grads]
        self.grads = {"dW": arrays[:n], "db": arrays[n:2 * n], "dgamma": arrays[2 * n:2 * n + k],
                      "dbeta": arrays[2 * n + k:]}
        return out.detach().numpy()

    def step(self, lr: float, momentum: float) -> None:
        """The contract's update: v = momentum * v - lr * grad; p += v for W, b; plain SGD for gamma, beta."""
        with torch.no_grad():
            for i in range(len(self.W)):
                self.vW[i] = momentum * self.vW[i] - lr * _t(self.grads["dW"][i])
                self.vb[i] = momentum * self.vb[i] - lr * _t(self.grads["db"][i])
                self.W[i] = self.W[i] + self.vW[i]
                self.b[i] = self.b[i] + self.vb[i]
            for i in range(len(self.gamma)):
                self.gamma[i] = self.gamma[i] - lr * _t(self.grads["dgamma"][i])
                self.beta[i] = self.beta[i] - lr * _t(self.grads["dbeta"][i])


# --------------------------------------------------------------------------- one test case


class Case:
    """An architecture, its initial parameters drawn for one check id, inputs and one-hot labels."""

    def __init__(self, check_id: str, arch: Arch, lr: float = 0.1, momentum: float = 0.0) -> None:
        self.check_id, self.arch, self.lr, self.momentum = check_id, arch, lr, momentum
        generator = checks.rng(check_id)
        self.Ws = [generator.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_out))
                   for n_in, n_out in zip(arch.sizes[:-1], arch.sizes[1:])]
        self.bs = [generator.normal(0.0, 0.5, size=n_out) for n_out in arch.sizes[1:]]
        self.generator = generator
        self.oracle = TorchMLP(arch, self.Ws, self.bs)

    def batch(self, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A fresh input (B, in) and one-hot labels (B, out) from this case's generator."""
        size = self.arch.batch if size is None else size
        x = self.generator.normal(0.0, 1.5, size=(size, self.arch.input_size))
        labels = np.eye(self.arch.output_size)[self.generator.integers(0, self.arch.output_size, size=size)]
        return x, labels

    def weight_init_fn(self, d_in: int, d_out: int) -> np.ndarray:
        """A copy of this case's W of that shape (the sizes are all different, so the shape names the layer)."""
        for W in self.Ws:
            if W.shape == (int(d_in), int(d_out)):
                return W.copy()
        return np.full((int(d_in), int(d_out)), 100.0)

    def bias_init_fn(self, d_out: int) -> np.ndarray:
        """A copy of this case's b of that size, as (out,)."""
        for b in self.bs:
            if b.shape == (int(d_out),):
                return b.copy()
        return np.full(int(d_out), 100.0)

    def make(self, make: MakeMLP) -> Any:
        """The student's MLP of this architecture, with fresh reference activations and loss."""
        arch = self.arch
        activations = [make_activation(name) for name in arch.activations]
        return checks.call(arch.describe, make, arch.input_size, arch.output_size, list(arch.hiddens),
                           activations, self.weight_init_fn, self.bias_init_fn, blocks.SoftmaxCrossEntropy(),
                           self.lr, self.momentum, arch.num_bn_layers)


# --------------------------------------------------------------------------- reading the student's MLP


def _layers(mlp: Any, name: str) -> list[Any]:
    """``mlp.linear_layers`` or ``mlp.bn_layers`` as a list (a clear failure when it is missing)."""
    return list(checks.call(f"reading mlp.{name}", lambda: list(getattr(mlp, name))))


def _attribute(layer: Any, name: str) -> Any:
    """layer.<name>, or None when it is missing (the comparison then says so)."""
    return getattr(layer, name, None)


def _check_count(check_id: str, mlp: Any, arch: Arch) -> tuple[list[Any], list[Any]]:
    """The student's linear and BatchNorm layers, after checking how many there are."""
    linear, bn = _layers(mlp, "linear_layers"), _layers(mlp, "bn_layers")
    checks.same(f"{check_id}.n_linear", len(linear), len(arch.sizes) - 1,
                what=f"len(mlp.linear_layers) of {arch.describe}",
                hint="one Linear per layer: len(hiddens) + 1, the output layer included")
    checks.same(f"{check_id}.n_bn", len(bn), arch.num_bn_layers, what=f"len(mlp.bn_layers) of {arch.describe}",
                hint="one BatchNorm for each of the FIRST num_bn_layers linear layers only")
    return linear, bn


HINT_FORWARD = ("each layer is Linear -> BatchNorm (only the first num_bn_layers layers) -> its own activation, "
                "and forward returns the last activation's output")
HINT_BACKWARD = ("going back through layer i: multiply delta by activations[i].derivative(), then BatchNorm's "
                 "backward (if layer i has one), then the Linear's backward; start from the loss's derivative()")


def _forward_suspects(case: Case, x: np.ndarray, expected: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """Outputs of typical wrong networks, to name the mistake."""
    arch = case.arch
    suspects: list[tuple[np.ndarray, str]] = []
    last = TORCH_ACTIVATIONS[arch.activations[-1]]
    suspects.append((last(_t(expected)).numpy(), "the last activation looks applied twice"))
    if arch.num_bn_layers:
        eval_oracle = TorchMLP(arch, case.Ws, case.bs)
        suspects.append((eval_oracle.forward(x, train=False),
                         "BatchNorm looks in eval mode: a new MLP is in train mode (batch statistics)"))
    return suspects


# --------------------------------------------------------------------------- the graded checks


FIVE_ARCHS = ("none", "one", "one_bn", "three", "three_bn")


def _every_architecture(prefix: str, make: MakeMLP) -> Iterator[tuple[str, Case, Any]]:
    """(check id, case, the student's new MLP) for 0, 1 and 3 hidden layers, with and without BatchNorm."""
    for name in FIVE_ARCHS:
        check_id = f"{prefix}.{name}"
        case = Case(check_id, ARCHS[name])
        yield check_id, case, case.make(make)


def check_init(notebook: str, make: MakeMLP) -> None:
    """Layer counts; each Linear's W, b as the init functions gave them (b as (1, out)); BatchNorm sizes."""
    prefix = f"{notebook}.mlp.init"
    for check_id, case, mlp in _every_architecture(prefix, make):
        linear, bn = _check_count(check_id, mlp, case.arch)
        for i, layer in enumerate(linear):
            checks.close(f"{check_id}.W{i}", _attribute(layer, "W"), case.Ws[i],
                         what=f"mlp.linear_layers[{i}].W of {case.arch.describe}",
                         hint="layer i maps sizes[i] -> sizes[i+1], sizes = [input_size, *hiddens, output_size]")
            checks.close(f"{check_id}.b{i}", _attribute(layer, "b"), case.bs[i].reshape(1, -1),
                         what=f"mlp.linear_layers[{i}].b of {case.arch.describe}",
                         hint="b comes from bias_init_fn(out) of layer i, stored (1, out)")
        for i, layer in enumerate(bn):
            size = case.arch.sizes[i + 1]
            checks.close(f"{check_id}.gamma{i}", _attribute(layer, "gamma"), np.ones((1, size)),
                         what=f"mlp.bn_layers[{i}].gamma of {case.arch.describe}",
                         hint="BatchNorm i normalises the output of linear layer i: BatchNorm(sizes[i+1])")


def check_forward(notebook: str, make: MakeMLP) -> None:
    """forward(x) of a new MLP (train mode) against the torch network, for 0, 1 and 3 hidden layers, +/- BatchNorm."""
    prefix = f"{notebook}.mlp.forward"
    for check_id, case, mlp in _every_architecture(prefix, make):
        x, _ = case.batch()
        x_given = x.copy()
        expected = case.oracle.forward(x, train=True)
        out = checks.call("mlp.forward(x)", mlp.forward, x_given)
        checks.unchanged(f"{check_id}.input", x, x_given, what="x after mlp.forward(x)")
        checks.close(f"{check_id}.out", out, expected, what=f"mlp.forward(x) of {case.arch.describe}, x {x.shape}",
                     hint=checks.diagnose(out, HINT_FORWARD, _forward_suspects(case, x, expected)))


def _check_grads(check_id: str, mlp: Any, case: Case, what: str) -> None:
    """Every dW, db, dgamma, dbeta of the student's layers against the oracle's last backward."""
    linear, bn = _check_count(check_id, mlp, case.arch)
    grads = case.oracle.grads
    for i, layer in enumerate(linear):
        for name in ("dW", "db"):
            checks.close(f"{check_id}.{name}{i}", _attribute(layer, name), grads[name][i],
                         what=f"mlp.linear_layers[{i}].{name} after {what}", hint=HINT_BACKWARD)
    for i, layer in enumerate(bn):
        for name in ("dgamma", "dbeta"):
            checks.close(f"{check_id}.{name}{i}", _attribute(layer, name), grads[name][i],
                         what=f"mlp.bn_layers[{i}].{name} after {what}", hint=HINT_BACKWARD)


def check_backward(notebook: str, make: MakeMLP) -> None:
    """Gradients of the mean loss after forward(x1), forward(x2) (another batch size), backward(labels2)."""
    prefix = f"{notebook}.mlp.backward"
    for check_id, case, mlp in _every_architecture(prefix, make):
        x1, _ = case.batch()
        x2, labels2 = case.batch(case.arch.batch + 3)
        x2_given, labels_given = x2.copy(), labels2.copy()
        checks.call("mlp.forward(x1)", mlp.forward, x1.copy())
        checks.call("mlp.forward(x2)", mlp.forward, x2_given)
        checks.call("mlp.backward(labels2)", mlp.backward, labels_given)
        checks.unchanged(f"{check_id}.input", x2, x2_given, what="x2 after mlp.forward(x2), mlp.backward(labels2)")
        checks.unchanged(f"{check_id}.labels", labels2, labels_given, what="labels2 after mlp.backward(labels2)")
        case.oracle.forward(x1, train=True)          # the oracle's running statistics see x1 too
        case.oracle.backward(x2, labels2)
        _check_grads(check_id, mlp, case, f"forward(x1), forward(x2) with x2 {x2.shape}, backward(labels2) "
                                          f"in {case.arch.describe}")


def _check_parameters(check_id: str, mlp: Any, case: Case, what: str, buffers: bool = True) -> None:
    """W, b (and their momentum buffers), gamma, beta of the student's layers against the oracle's."""
    linear, bn = _check_count(check_id, mlp, case.arch)
    oracle = case.oracle
    hint_update = ("step(): momentum_W = momentum * momentum_W - lr * dW, then W += momentum_W (the same for b); "
                   "gamma -= lr * dgamma, beta -= lr * dbeta")
    for i, layer in enumerate(linear):
        pairs = [("W", oracle.W[i]), ("b", oracle.b[i])]
        if buffers:
            pairs += [("momentum_W", oracle.vW[i]), ("momentum_b", oracle.vb[i])]
        for name, value in pairs:
            checks.close(f"{check_id}.{name}{i}", _attribute(layer, name), value.numpy(),
                         what=f"mlp.linear_layers[{i}].{name} after {what}", hint=hint_update)
    for i, layer in enumerate(bn):
        for name, value in (("gamma", oracle.gamma[i]), ("beta", oracle.beta[i])):
            checks.close(f"{check_id}.{name}{i}", _attribute(layer, name), value.numpy(),
                         what=f"mlp.bn_layers[{i}].{name} after {what}", hint=hint_update)


def _train_step(mlp: Any, case: Case, lr: float, momentum: float) -> None:
    """One training step of the student's MLP on a new batch (zero_grads, forward, backward, step), and the oracle's."""
    x, labels = case.batch()
    checks.call("mlp.zero_grads()", mlp.zero_grads)
    checks.call("mlp.forward(x)", mlp.forward, x.copy())
    checks.call("mlp.backward(labels)", mlp.backward, labels.copy())
    checks.call("mlp.step()", mlp.step)
    case.oracle.backward(x, labels)
    case.oracle.step(lr, momentum)


def check_step(notebook: str, make: MakeMLP) -> None:
    """Two training steps (zero_grads, forward, backward, step) with momentum 0 and 0.9; lr read at step time."""
    prefix = f"{notebook}.mlp.step"
    for name, momentum in (("none", 0.9), ("one", 0.0), ("one_bn", 0.9), ("three", 0.9), ("three_bn", 0.0),
                           ("three_bn", 0.9)):
        check_id = f"{prefix}.{name}.{momentum}"
        case = Case(check_id, ARCHS[name], lr=0.2, momentum=momentum)
        mlp = case.make(make)
        what = f"{case.arch.describe} with lr={case.lr}, momentum={momentum}"
        for step in (1, 2):
            _train_step(mlp, case, case.lr, momentum)
            _check_parameters(f"{check_id}.{step}", mlp, case, f"training step {step} of {what}")

    # A learning-rate schedule changes mlp.lr between steps: step() must read the attribute.
    check_id = f"{prefix}.new_lr"
    case = Case(check_id, ARCHS["one"], lr=0.2, momentum=0.5)
    mlp = case.make(make)
    for step, lr in ((1, 0.2), (2, 0.05)):
        checks.call(f"mlp.lr = {lr}", setattr, mlp, "lr", lr)
        _train_step(mlp, case, lr, 0.5)
    _check_parameters(check_id, mlp, case, "two steps, with mlp.lr set to 0.2 and then to 0.05 (momentum 0.5)",
                      buffers=False)


def _snapshot(mlp: Any) -> dict[tuple[str, int, str], Any]:
    """Copies of every parameter and momentum buffer of the student's layers, keyed (list, index, name)."""
    saved: dict[tuple[str, int, str], Any] = {}
    layer_parameters = (("linear_layers", ("W", "b", "momentum_W", "momentum_b")), ("bn_layers", ("gamma", "beta")))
    for list_name, names in layer_parameters:
        for i, layer in enumerate(_layers(mlp, list_name)):
            for name in names:
                try:
                    saved[(list_name, i, name)] = np.array(_attribute(layer, name), dtype=np.float64)
                except (TypeError, ValueError):
                    continue          # not an array: the other checks say what is wrong with it
    return saved


def check_zero_grads(notebook: str, make: MakeMLP) -> None:
    """zero_grads() sets every dW, db, dgamma, dbeta to zeros of its parameter's shape and touches nothing else."""
    prefix = f"{notebook}.mlp.zero_grads"
    for name in ("one", "three_bn"):
        check_id = f"{prefix}.{name}"
        case = Case(check_id, ARCHS[name], lr=0.1, momentum=0.9)
        mlp = case.make(make)
        for _ in range(2):      # two steps: the momentum buffers are not zero any more
            x, labels = case.batch()
            checks.call("mlp.forward(x)", mlp.forward, x.copy())
            checks.call("mlp.backward(labels)", mlp.backward, labels.copy())
            checks.call("mlp.step()", mlp.step)
            case.oracle.backward(x, labels)
            case.oracle.step(case.lr, case.momentum)
        x, labels = case.batch()
        checks.call("mlp.forward(x)", mlp.forward, x.copy())
        checks.call("mlp.backward(labels)", mlp.backward, labels.copy())
        before = _snapshot(mlp)
        checks.call("mlp.zero_grads()", mlp.zero_grads)
        linear, bn = _check_count(check_id, mlp, case.arch)
        what = f"mlp.zero_grads() after forward and backward ({case.arch.describe})"
        for i, layer in enumerate(linear):
            for grad, param in (("dW", "W"), ("db", "b")):
                shape = case.oracle.W[i].shape if param == "W" else case.oracle.b[i].shape
                checks.close(f"{check_id}.{grad}{i}", _attribute(layer, grad), np.zeros(shape),
                             what=f"mlp.linear_layers[{i}].{grad} after {what}",
                             hint=f"zero_grads() sets every Linear's {grad} to zeros of {param}'s shape")
        for i, layer in enumerate(bn):
            for grad in ("dgamma", "dbeta"):
                checks.close(f"{check_id}.{grad}{i}", _attribute(layer, grad), np.zeros((1, case.arch.sizes[i + 1])),
                             what=f"mlp.bn_layers[{i}].{grad} after {what}",
                             hint="zero_grads() clears the BatchNorm gradients too")
        for key, value in before.items():
            list_name, i, name = key
            layer = (linear if list_name == "linear_layers" else bn)[i]
            checks.consistent(f"{check_id}.untouched.{name}{i}", _attribute(layer, name), value,
                         what=f"mlp.{list_name}[{i}].{name} after {what}",
                         hint="zero_grads() clears gradients only: parameters and momentum buffers stay as they are")


def check_train_eval(notebook: str, make: MakeMLP) -> None:
    """eval(): BatchNorm uses (and keeps) its running statistics; train(): batch statistics again."""
    prefix = f"{notebook}.mlp.modes"
    for name in ("one_bn", "three_bn"):
        check_id = f"{prefix}.{name}"
        case = Case(check_id, ARCHS[name])
        mlp = case.make(make)
        for _ in range(3):                                  # three batches move the running statistics
            x, _labels = case.batch()
            checks.call("mlp.forward(x)", mlp.forward, x.copy())
            case.oracle.forward(x, train=True)
        bn = _layers(mlp, "bn_layers")
        hint_stats = ("a forward in train mode updates each BatchNorm's running statistics; "
                      "after eval() they must stay as they are")
        checks.call("mlp.eval()", mlp.eval)
        for batch in (case.arch.batch, 1):
            x_eval, _ = case.batch(batch)
            out = checks.call("mlp.forward(x) after mlp.eval()", mlp.forward, x_eval.copy())
            checks.close(f"{check_id}.eval.{batch}", out, case.oracle.forward(x_eval, train=False),
                         what=f"mlp.forward(x) after three forwards in train mode and mlp.eval(), x {x_eval.shape} "
                              f"({case.arch.describe})",
                         hint="in eval mode every BatchNorm normalises with its running statistics: "
                              "eval() must reach the BatchNorm layers (forward(x, eval=True))")
        for i, layer in enumerate(bn):
            checks.close(f"{check_id}.running_mean{i}", _attribute(layer, "running_mean"),
                         case.oracle.running_mean[i].numpy(), what=f"mlp.bn_layers[{i}].running_mean after "
                         f"three forwards in train mode and two in eval mode", hint=hint_stats)
            checks.close(f"{check_id}.running_var{i}", _attribute(layer, "running_var"),
                         case.oracle.running_var[i].numpy(), what=f"mlp.bn_layers[{i}].running_var after "
                         f"three forwards in train mode and two in eval mode", hint=hint_stats)
        checks.call("mlp.train()", mlp.train)
        x, _ = case.batch()
        out = checks.call("mlp.forward(x) after mlp.train()", mlp.forward, x.copy())
        checks.close(f"{check_id}.train", out, case.oracle.forward(x, train=True),
                     what=f"mlp.forward(x) after mlp.eval() and then mlp.train() ({case.arch.describe})",
                     hint="train() switches back to batch statistics")


# --------------------------------------------------------------------------- get_training_stats


class SpyMLP:
    """A stand-in MLP for ``get_training_stats``: the MLP's methods, a record of every call.

    Its logits are a fixed function of the input rows, the mode and the number of whole epochs
    of ``step()`` calls so far, so the test can recompute the figures the student must report.
    The drift is per epoch, not per step, so that an epoch's figures do not depend on the order
    of the shuffle: the trusted judge compares them with the reference run, which drew another
    permutation. A re-pass after the epoch still differs (it sees the next epoch's drift).
    """

    def __init__(self, check_id: str, n_features: int, n_classes: int, batches_per_epoch: int) -> None:
        generator = checks.rng(f"{check_id}.spy")
        self.batches_per_epoch = batches_per_epoch
        self.P = generator.normal(0.0, 0.6, size=(n_features, n_classes))
        self.Q = generator.normal(0.0, 1.0, size=(1, n_classes))
        self.E = generator.normal(0.0, 1.0, size=(1, n_classes))
        self.input_size, self.output_size = n_features, n_classes
        self.hiddens: list[int] = []
        self.num_bn_layers = 0
        self.lr, self.momentum = 0.1, 0.0
        self.criterion = blocks.SoftmaxCrossEntropy()
        self.activations: list[blocks.Activation] = [blocks.Identity()]
        self.linear_layers = [blocks.Linear(n_features, n_classes, lambda i, o: self.P.copy(),
                                            lambda o: np.zeros(o))]
        self.bn_layers: list[blocks.BatchNorm] = []
        self.training = True
        self.steps = 0
        self.events: list[tuple[Any, ...]] = []
        self._last: np.ndarray | None = None

    def logits(self, x: np.ndarray, training: bool, steps: int) -> np.ndarray:
        """What forward returns for rows x in that mode after that many steps (drifting once per epoch)."""
        epochs = steps // self.batches_per_epoch
        return x @ self.P + 0.3 * epochs * self.Q + (0.0 if training else 1.0) * self.E

    def __call__(self, x: Any) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: Any) -> np.ndarray:
        """Record the rows, the mode and the returned logits."""
        x = np.array(x, dtype=np.float64)
        out = self.logits(x, self.training, self.steps)
        self.events.append(("forward", x, self.training, out.copy()))
        self._last = out
        return out.copy()

    def backward(self, labels: Any) -> None:
        """Record the labels (one-hot (B, C) or integers (B,))."""
        labels = np.array(labels)
        self.events.append(("backward", labels))
        if self._last is not None and labels.shape == self._last.shape:
            self.criterion.forward(self._last, labels)

    def zero_grads(self) -> None:
        self.events.append(("zero_grads",))

    def step(self) -> None:
        self.steps += 1
        self.events.append(("step",))

    def train(self) -> None:
        self.training = True
        self.events.append(("train",))

    def eval(self) -> None:
        self.training = False
        self.events.append(("eval",))


class StatsCase:
    """A tiny dataset with unique rows (so each row names its split and index), a spy and the student's result."""

    def __init__(self, check_id: str, n_train: int, batch_size: int, nepochs: int = 3, n_val: int = 13,
                 n_test: int = 11, n_features: int = 6, n_classes: int = 10) -> None:
        generator = checks.rng(check_id)
        self.check_id, self.batch_size, self.nepochs = check_id, batch_size, nepochs
        rows = generator.normal(size=(n_train + n_val + n_test, n_features))
        labels = generator.integers(0, n_classes, size=len(rows))
        self.X, self.y = rows[:n_train], labels[:n_train]
        self.X_val, self.y_val = rows[n_train:n_train + n_val], labels[n_train:n_train + n_val]
        self.X_test, self.y_test = rows[n_train + n_val:], labels[n_train + n_val:]
        self.where = {row.tobytes(): ("train", i) for i, row in enumerate(self.X)}
        self.where.update({row.tobytes(): ("val", i) for i, row in enumerate(self.X_val)})
        self.where.update({row.tobytes(): ("test", i) for i, row in enumerate(self.X_test)})
        self.spy = SpyMLP(check_id, n_features, n_classes, -(-n_train // batch_size))
        self.n_classes = n_classes

    @property
    def describe(self) -> str:
        return (f"get_training_stats(mlp, dset, nepochs={self.nepochs}, batch_size={self.batch_size}) with "
                f"{len(self.X)} training and {len(self.X_val)} validation samples")

    def run(self, function: TrainingStats) -> Any:
        dset = ((self.X.copy(), self.y.copy()), (self.X_val.copy(), self.y_val.copy()),
                (self.X_test.copy(), self.y_test.copy()))
        return checks.call(self.describe, function, self.spy, dset, self.nepochs, self.batch_size)

    def rows(self, x: np.ndarray) -> list[tuple[str, int]]:
        """(split, index) of every row of a forwarded batch (("?", -1) for a row of no split)."""
        return [self.where.get(row.tobytes(), ("?", -1)) for row in x]


class Record:
    """The spy's events read as epochs: training batches (forward, labels, calls after it) and validation passes."""

    def __init__(self, case: StatsCase) -> None:
        self.batches: list[list[dict[str, Any]]] = []     # per epoch: one dict per training forward
        self.validations: list[list[dict[str, Any]]] = []  # per epoch: the validation forwards
        self.foreign: list[str] = []                        # splits of forwards that are neither
        current: list[dict[str, Any]] = []
        validating = False
        for event in case.spy.events:
            if event[0] == "forward":
                _, x, training, out = event
                rows = case.rows(x)
                splits = {split for split, _ in rows}
                if splits == {"train"}:
                    if validating or not self.batches:
                        self.batches.append([])
                        validating = False
                    current = self.batches[-1]
                    current.append({"index": np.array([i for _, i in rows]), "training": training, "out": out,
                                    "after": [], "labels": None})
                elif splits == {"val"}:
                    if not validating:
                        self.validations.append([])
                        validating = True
                    self.validations[-1].append({"index": np.array([i for _, i in rows]), "training": training,
                                                 "out": out, "steps": case.spy.steps})
                else:
                    self.foreign.append("+".join(sorted(splits)))
            elif event[0] in ("backward", "step") and self.batches and self.batches[-1] and not validating:
                batch = self.batches[-1][-1]
                batch["after"].append(event[0])
                if event[0] == "backward" and batch["labels"] is None:
                    batch["labels"] = event[1]


def _as_class_labels(labels: Any, n_classes: int) -> Any:
    """Integer labels from one-hot rows (or integers as given); anything else unchanged."""
    array = np.asarray(labels) if labels is not None else None
    if array is None:
        return "no labels (backward was not called)"
    if array.ndim == 2 and array.shape[1] == n_classes:
        return array.argmax(axis=1)
    return array


def _result(check_id: str, result: Any, nepochs: int) -> list[np.ndarray]:
    """The four arrays, after checking there are four of shape (nepochs,)."""
    try:
        parts = list(result)
        shapes = ", ".join(str(np.shape(np.asarray(part, dtype=np.float64))) for part in parts)
    except (TypeError, ValueError):
        parts, shapes = [], f"a {type(result).__name__}"
    checks.same(f"{check_id}.shapes", shapes, ", ".join([str((nepochs,))] * 4),
                what=f"the shapes of what get_training_stats returned ({shapes}) for nepochs={nepochs}",
                hint="return (training_losses, training_errors, validation_losses, validation_errors): four numpy "
                     "arrays with one entry per epoch")
    return [np.asarray(part, dtype=np.float64) for part in parts]


STATS_CASES = (("partial", 37, 8), ("exact", 24, 6), ("one_batch", 20, 32))


def check_training_loop(notebook: str, get_training_stats: TrainingStats) -> None:
    """Each epoch: every row once, in a new order, labels of the same rows, train mode, forward->backward->step."""
    prefix = f"{notebook}.stats.loop"
    for label, n_train, batch_size in STATS_CASES:
        check_id = f"{prefix}.{label}"
        case = StatsCase(check_id, n_train, batch_size)
        _result(check_id, case.run(get_training_stats), case.nepochs)
        record = Record(case)
        foreign = ", ".join(record.foreign)
        checks.same(f"{check_id}.foreign", foreign, "",
                    what=f"batches forwarded by {case.describe} that are not all training or all validation rows "
                         f"(found: {foreign})",
                    hint="train on the training split only, validate on the validation split; the test split is "
                         "not used")
        checks.same(f"{check_id}.epochs", len(record.batches), case.nepochs,
                    what=f"number of training passes (training batches between validations) in {case.describe}",
                    hint="each epoch trains on the whole (shuffled) training set, then validates once")
        remainder = [n_train % batch_size] if n_train % batch_size else []
        expected_sizes = [batch_size] * (n_train // batch_size) + remainder
        previous = np.arange(n_train)
        for epoch, batches in enumerate(record.batches, start=1):
            where = f"epoch {epoch} of {case.describe}"
            checks.close(f"{check_id}.{epoch}.sizes", np.array([len(b["index"]) for b in batches]),
                         np.array(expected_sizes),
                         what=f"sizes of the training batches in {where}",
                         hint="batches of batch_size rows in order; the last one holds what is left "
                              "(do not drop it)")
            order = np.concatenate([b["index"] for b in batches])
            checks.close(f"{check_id}.{epoch}.rows", np.sort(order), np.arange(n_train),
                         what=f"the training rows seen in {where}, sorted",
                         hint="every training sample exactly once per epoch")
            checks.same(f"{check_id}.{epoch}.shuffled", bool(np.array_equal(order, previous)), False,
                        what=f"whether the training order of {where} equals the order before it "
                             "(the data's order for epoch 1)",
                        hint="draw a new permutation every epoch and apply it to X and y alike")
            previous = order
            # Counted over the epoch, so that the value does not depend on the order of the shuffle.
            wrong_labels = 0
            for batch in batches:
                given = np.asarray(_as_class_labels(batch["labels"], case.n_classes))
                true = case.y[batch["index"]]
                wrong_labels += len(true) if given.shape != true.shape else int(np.sum(given != true))
            checks.same(f"{check_id}.{epoch}.labels", wrong_labels, 0,
                        what=f"number of training rows of {where} whose label passed to mlp.backward is not "
                             f"that row's label ({wrong_labels})",
                        hint="shuffle X and y with the same permutation; backward gets the labels of the "
                             "batch it just forwarded (one-hot)")
            calls = " | ".join(sorted({" -> ".join(["forward", *b["after"]]) for b in batches}))
            checks.same(f"{check_id}.{epoch}.calls", calls, "forward -> backward -> step",
                        what=f"the calls on the model after each training forward in {where} (seen: {calls})",
                        hint="for every batch: forward, then backward(labels), then step() (zero_grads() "
                             "anywhere you like)")
            modes = " | ".join(sorted({"train" if b["training"] else "eval" for b in batches}))
            checks.same(f"{check_id}.{epoch}.mode", modes, "train",
                        what=f"the mode of the model during the training batches of {where} (seen: {modes})",
                        hint="call mlp.train() before training each epoch: the validation put it in eval mode")


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy of softmax(logits) against integer labels, by torch in float64."""
    return F.cross_entropy(_t(logits), torch.tensor(labels, dtype=torch.int64), reduction="none").numpy()


def check_training_figures(notebook: str, get_training_stats: TrainingStats) -> None:
    """Training loss/error from the trained batches averaged per sample; validation from a full eval-mode pass."""
    prefix = f"{notebook}.stats.figures"
    for label, n_train, batch_size in STATS_CASES:
        check_id = f"{prefix}.{label}"
        case = StatsCase(check_id, n_train, batch_size)
        result = _result(check_id, case.run(get_training_stats), case.nepochs)
        record = Record(case)
        losses, errors, batch_means, batch_mean_errors = [], [], [], []
        for batches in record.batches[:case.nepochs]:
            loss_sum, wrong, means, mean_errors = 0.0, 0, [], []
            for batch in batches:
                true = case.y[batch["index"]]
                per_sample = _cross_entropy(batch["out"], true)
                misses = batch["out"].argmax(axis=1) != true
                loss_sum += float(per_sample.sum())
                wrong += int(misses.sum())
                means.append(per_sample.mean())
                mean_errors.append(misses.mean())
            losses.append(loss_sum / n_train)
            errors.append(wrong / n_train)
            batch_means.append(np.mean(means) if means else np.nan)
            batch_mean_errors.append(np.mean(mean_errors) if mean_errors else np.nan)
        where = case.describe
        # The training figures are recomputed from the student's own batches (the loop is graded in its own
        # cell), so they are checked for consistency: the reference run trained other batches. Always
        # recorded, also when the epochs could not be told apart (then the lengths differ and it fails).
        checks.consistent(f"{check_id}.training_losses", result[0], np.array(losses),
                          what=f"training_losses of {where}",
                          hint=checks.diagnose(result[0], "the mean per-sample cross-entropy over all the epoch's "
                                               "training samples, from the batches as they were trained",
                                               [(np.array(batch_means), ("looks like the mean of the batch means: "
                                                 "the smaller last batch must count with its size")),
                                                (np.array(losses) * n_train, ("looks like a sum: report the mean "
                                                 "per sample"))]))
        checks.consistent(f"{check_id}.training_errors", result[1], np.array(errors),
                          what=f"training_errors of {where}",
                          hint=checks.diagnose(result[1], "the fraction of the epoch's training samples "
                                               "misclassified (argmax of the logits), in [0, 1]",
                                               [(np.array(batch_mean_errors), ("looks like the mean of the batch "
                                                 "errors: the smaller last batch must count with its size")),
                                                (np.array(errors) * 100, ("looks like a percentage: report a "
                                                 "fraction in [0, 1]"))]))
        # Validation: the model as it is after the epoch's last step, in eval mode, on the whole split.
        batches_per_epoch = -(-n_train // batch_size)
        val_losses, val_errors, train_mode_losses = [], [], []
        for epoch in range(1, case.nepochs + 1):
            logits = case.spy.logits(case.X_val, training=False, steps=epoch * batches_per_epoch)
            val_losses.append(_cross_entropy(logits, case.y_val).mean())
            val_errors.append(np.mean(logits.argmax(axis=1) != case.y_val))
            train_logits = case.spy.logits(case.X_val, training=True, steps=epoch * batches_per_epoch)
            train_mode_losses.append(_cross_entropy(train_logits, case.y_val).mean())
        hint_val = "after each epoch's training, one pass over the whole validation set in eval mode (mlp.eval())"
        checks.close(f"{check_id}.validation_losses", result[2] if len(result) > 2 else None, np.array(val_losses),
                     what=f"validation_losses of {where}",
                     hint=checks.diagnose(result[2] if len(result) > 2 else None, hint_val,
                                          [(np.array(train_mode_losses), ("looks computed in train mode: call "
                                             "mlp.eval() before validating (BatchNorm must use its running "
                                             "statistics)"))]))
        checks.close(f"{check_id}.validation_errors", result[3] if len(result) > 3 else None, np.array(val_errors),
                     what=f"validation_errors of {where}", hint=hint_val + "; a fraction in [0, 1]")
