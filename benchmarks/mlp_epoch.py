"""Time one Fashion-MNIST epoch of the course's numpy MLP against the same model in PyTorch (not a test).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mlp_epoch.py [--repeats 5] [--threads 1] [--bn]

The numpy model is the MLP 784-256-128-10 (ReLU, He init, batch 128, float64, SGD with momentum
0.9) assembled from the course's own reference SOLUTIONS: the solution cells of
source/02_activations, 03_loss, 04_linear, 05_batchnorm (numpy part, only with ``--bn``) and
06_mlp are executed in a namespace that holds numpy and nothing else, and 06's ``MLP`` is handed
those classes where the notebook uses ``handgrad.blocks``. No torch runs in its loop. The
PyTorch model is the same network (same initial weights, ``nn.Linear`` in float64,
``torch.optim.SGD(momentum=0.9)``, whose velocity is the course's divided by -lr: the same
method for a constant lr). Both train on the same 50 000 images in the same batch order; the
repeats are interleaved (numpy, torch, torch, numpy, ...) and the median of each is reported,
with the ratio numpy / torch.

The FLOP limit of each is its epoch's matmul FLOPs divided by the matmul throughput measured
here (a (128, 784) @ (784, 256) float64 product, same threads): the time a BLAS-bound epoch
cannot beat. PyTorch does not compute the gradient with respect to the input images (they do
not require grad); the course's ``Linear.backward`` always returns ``dx``, so the numpy model
does that one product more, and its limit is higher by exactly that.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

COURSE = Path(__file__).resolve().parents[1]
SIZES = [784, 256, 128, 10]
BATCH, LR, MOMENTUM = 128, 0.01, 0.9


# --------------------------------------------------------------------------- the numpy model


def _cells(assignment: str) -> dict[str, str]:
    """grade_id -> source of the numpy cells of a source notebook that define the course's classes."""
    notebook = nbformat.read(str(COURSE / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    found = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta or meta.get("grade"):
            continue
        source = cell.source
        if "torch" in source or "nn." in source or "import" in source:   # setup cells and PyTorch exercises
            continue
        if meta.get("solution") or source.lstrip().startswith("class "):  # solutions and given base classes
            found[meta["grade_id"]] = source
    return found


def course_classes(with_bn: bool) -> dict[str, Any]:
    """The course's solution classes of 02-06, executed with numpy only (no torch in the namespace)."""
    namespace: dict[str, Any] = {"np": np, "__name__": "course_solutions"}
    for assignment in ("02_activations", "03_loss", "04_linear", *(("05_batchnorm",) if with_bn else ())):
        for grade_id, source in _cells(assignment).items():
            exec(compile(source, f"<{assignment}:{grade_id}>", "exec"), namespace)  # noqa: S102
    # 06's MLP builds its layers from `blocks`: hand it the course's own numpy classes instead.
    namespace["blocks"] = types.SimpleNamespace(
        Linear=namespace["Linear"], BatchNorm=namespace.get("BatchNorm"), ReLU=namespace["ReLU"],
        Identity=namespace["Identity"], SoftmaxCrossEntropy=namespace["SoftmaxCrossEntropy"])
    for grade_id, source in _cells("06_mlp").items():
        if grade_id in ("mlp", "mlp_learning"):
            exec(compile(source, f"<06_mlp:{grade_id}>", "exec"), namespace)  # noqa: S102
    return namespace


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    """He-initialised weights (in, out) of the three layers."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out)) for n_in, n_out in itertools.pairwise(SIZES)]


def numpy_model(classes: dict[str, Any], weights: list[np.ndarray], with_bn: bool) -> Any:
    """The course's MLP 784-256-128-10 from its own solutions."""
    queue = [W.copy() for W in weights]
    activations = [classes["ReLU"](), classes["ReLU"](), classes["Identity"]()]
    return classes["MLP"](SIZES[0], SIZES[-1], SIZES[1:-1], activations,
                          lambda n_in, n_out: queue.pop(0), lambda n_out: np.zeros(n_out),
                          classes["SoftmaxCrossEntropy"](), LR, MOMENTUM, 2 if with_bn else 0)


def numpy_epoch(model: Any, X: np.ndarray, one_hot: np.ndarray, order: np.ndarray) -> None:
    """One epoch: zero_grads, forward, backward, step per batch."""
    model.train()
    for first in range(0, len(order), BATCH):
        batch = order[first:first + BATCH]
        model.zero_grads()
        model.forward(X[batch])
        model.backward(one_hot[batch])
        model.step()


# --------------------------------------------------------------------------- the PyTorch model


def torch_model(weights: list[np.ndarray], with_bn: bool) -> tuple[Any, Any]:
    """The same network in float64 PyTorch and its optimizer."""
    import torch

    layers: list[torch.nn.Module] = []
    for i, W in enumerate(weights):
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T))
            linear.bias.zero_()
        layers.append(linear)
        if i < len(weights) - 1:
            if with_bn:
                layers.append(torch.nn.BatchNorm1d(W.shape[1], eps=1e-8, momentum=0.1, dtype=torch.float64))
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    return model, torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def torch_epoch(model: Any, optimizer: Any, X: Any, y: Any, order: Any) -> None:
    """One epoch: zero_grad, forward, mean cross-entropy, backward, step per batch."""
    import torch

    model.train()
    for first in range(0, len(order), BATCH):
        batch = order[first:first + BATCH]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
        loss.backward()
        optimizer.step()


# --------------------------------------------------------------------------- FLOPs


def matmul_flops_per_second(threads: int) -> float:
    """Measured float64 throughput of a (128, 784) @ (784, 256) product with numpy (best of a few)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(BATCH, 784)), rng.normal(size=(784, 256))
    out = np.empty((BATCH, 256))
    best = np.inf
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(50):
            np.matmul(a, b, out=out)
        best = min(best, (time.perf_counter() - start) / 50)
    return 2 * BATCH * 784 * 256 / best


def epoch_flops(n: int, input_gradient: bool) -> float:
    """Matmul FLOPs of one epoch: forward, dW, and dx of every layer (of the first too if input_gradient)."""
    forward = sum(2 * n * a * b for a, b in itertools.pairwise(SIZES))
    dx = sum(2 * n * a * b for a, b in itertools.pairwise(SIZES))
    if not input_gradient:
        dx -= 2 * n * SIZES[0] * SIZES[1]
    return forward + forward + dx


# --------------------------------------------------------------------------- main


def main() -> None:
    """Parse arguments, time interleaved epochs, print medians, the ratio and the FLOP limits."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--bn", action="store_true", help="BatchNorm on both hidden layers (05's numpy solution)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != str(args.threads):
        print(f"note: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; numpy's BLAS threads are fixed at "
              f"import, so set OMP_NUM_THREADS={args.threads} in the environment", file=sys.stderr)

    import torch

    from handgrad import data

    torch.set_num_threads(args.threads)
    (X, y), _, _ = data.load_splits("fashion-mnist")
    if args.limit:
        X, y = X[:args.limit], y[:args.limit]
    one_hot = np.eye(SIZES[-1])[y]
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    classes = course_classes(args.bn)
    weights = initial_weights()
    rng = np.random.default_rng(1)

    numpy_net = numpy_model(classes, weights, args.bn)
    torch_net, optimizer = torch_model(weights, args.bn)
    times: dict[str, list[float]] = {"numpy": [], "torch": []}
    for repeat in range(args.repeats + 1):                 # the first round warms up and is not counted
        order = rng.permutation(len(X))
        runs = [("numpy", lambda order=order: numpy_epoch(numpy_net, X, one_hot, order)),
                ("torch", lambda order=order: torch_epoch(torch_net, optimizer, X_t, y_t, torch.from_numpy(order)))]
        for name, run in runs if repeat % 2 == 0 else runs[::-1]:
            start = time.perf_counter()
            run()
            if repeat:
                times[name].append(time.perf_counter() - start)

    flops_per_second = matmul_flops_per_second(args.threads)
    medians = {name: statistics.median(values) for name, values in times.items()}
    limits = {"numpy": epoch_flops(len(X), True) / flops_per_second,
              "torch": epoch_flops(len(X), False) / flops_per_second}
    print(f"MLP {'-'.join(map(str, SIZES))}{' + BatchNorm' if args.bn else ''}, batch {BATCH}, float64, "
          f"SGD momentum {MOMENTUM}; {len(X)} images per epoch; {args.threads} BLAS thread(s); "
          f"median of {args.repeats} interleaved epochs; numpy {np.__version__}, torch {torch.__version__}")
    print(f"matmul throughput {flops_per_second / 1e9:.2f} GFLOP/s; load average {os.getloadavg()[0]:.1f}")
    for name in ("numpy", "torch"):
        print(f"  {name:6s} {medians[name]:7.2f} s/epoch  (all: {', '.join(f'{t:.2f}' for t in times[name])});  "
              f"FLOP limit {limits[name]:.2f} s -> {medians[name] / limits[name]:.2f}x the limit")
    print(f"ratio numpy / torch = {medians['numpy'] / medians['torch']:.3f} (target <= 1.1); "
          f"FLOP-limit ratio = {limits['numpy'] / limits['torch']:.3f}")


if __name__ == "__main__":
    main()
