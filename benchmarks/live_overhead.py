"""What LiveCurves costs as a share of a training epoch (a script that prints numbers, not a test).

Trains a vectorised numpy MLP 784-256-128-10 (float64, batch 128, plain SGD, ReLU, softmax
cross-entropy) for one epoch of Fashion-MNIST in three modes: no curves, LiveCurves live
(headless=False: the figure is rendered at every redraw, there is just no frontend to show
it) and LiveCurves headless, updating the curves after every batch. The modes run
interleaved, `--repeats` times each; the overheads compare medians of the same run.
BLAS runs on one thread unless OPENBLAS_NUM_THREADS says otherwise.

    .venv/bin/python benchmarks/live_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time

# One BLAS thread unless the environment says otherwise: on a shared machine, BLAS threads
# waiting for a busy core make epoch times swing tenfold and drown what is measured.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the thread settings, which numpy reads at import)

from handgrad.data import load_arrays  # noqa: E402
from handgrad.live import LiveCurves  # noqa: E402

SIZES = (784, 256, 128, 10)
BATCH = 128
LR = 0.05


def init_params(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised (W, b) per layer, the same every call so every run does the same work."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros((1, n_out)))
            for n_in, n_out in zip(SIZES, SIZES[1:])]


def train_epoch(params, X, y, curves: LiveCurves | None) -> float:
    """One epoch of minibatch SGD on the mean cross-entropy; return the seconds spent in curves."""
    in_curves = 0.0
    order = np.random.default_rng(1).permutation(len(X))
    n_batches = -(-len(X) // BATCH)
    for b in range(n_batches):
        index = order[b * BATCH:(b + 1) * BATCH]
        x, t = X[index], y[index]
        rows = np.arange(len(t))
        # Forward: keep every layer's output for the backward pass.
        outputs = [x]
        for i, (W, bias) in enumerate(params):
            z = outputs[-1] @ W + bias
            outputs.append(np.maximum(z, 0.0) if i < len(params) - 1 else z)
        shifted = outputs[-1] - outputs[-1].max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[rows, t].mean()
        error = np.mean(log_p.argmax(axis=1) != t)
        # Backward: softmax cross-entropy gradient of the batch mean, then layer by layer.
        grad = np.exp(log_p)
        grad[rows, t] -= 1.0
        grad /= len(t)
        for i in reversed(range(len(params))):
            W, bias = params[i]
            if i < len(params) - 1:
                grad = grad * (outputs[i + 1] > 0)  # ReLU'(0) = 0
            dW, db = outputs[i].T @ grad, grad.sum(axis=0, keepdims=True)
            grad = grad @ W.T  # before W changes
            W -= LR * dW
            bias -= LR * db
        if curves is not None:
            # Timed directly: a noise-free measure of the curves' share of the epoch.
            start = time.perf_counter()
            curves.update((b + 1) / n_batches, train_loss=loss, train_error=error)
            in_curves += time.perf_counter() - start
    return in_curves


def run(mode: str, X, y) -> dict[str, float]:
    """Train one epoch in `mode`; return its seconds, those spent in curves, redraws, close()."""
    params = init_params()
    curves = None if mode == "none" else LiveCurves(total_epochs=1, headless=mode == "headless")
    # Headless text goes nowhere: we time producing it, not a terminal's scrolling.
    with contextlib.redirect_stdout(io.StringIO()):
        start = time.perf_counter()
        in_curves = train_epoch(params, X, y, curves)
        epoch = time.perf_counter() - start
        if curves is None:
            return {"epoch": epoch, "in_curves": 0.0, "redraws": 0, "close": 0.0}
        redraws = curves.draw_count
        start = time.perf_counter()
        curves.close()
        return {"epoch": epoch, "in_curves": in_curves, "redraws": redraws,
                "close": time.perf_counter() - start}


def main() -> None:
    """Time the three modes interleaved and print a table of medians and overheads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    X, y = load_arrays("fashion-mnist")
    modes = ("none", "live", "headless")
    for mode in modes:  # warm up BLAS, matplotlib's fonts and caches on a small slice
        run(mode, X[:2048], y[:2048])

    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for r in range(args.repeats):
        for mode in modes[r % 3:] + modes[:r % 3]:  # rotate so no mode always goes first
            runs[mode].append(run(mode, X, y))
    load_after = os.getloadavg()

    def median(mode: str, field: str) -> float:
        """Median of one field over the runs of one mode."""
        return statistics.median(r[field] for r in runs[mode])

    base = median("none", "epoch")
    print(f"one epoch: {len(X)} samples, batch {BATCH}, MLP {'-'.join(map(str, SIZES))} float64; "
          f"{args.repeats} interleaved repeats; {os.cpu_count()} CPUs, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print("load average (1/5/15 min): before " + "/".join(f"{x:.2f}" for x in load_before)
          + ", after " + "/".join(f"{x:.2f}" for x in load_after))
    print("epoch: median (min-max) wall seconds; vs none: difference of medians (includes noise);")
    print("in curves: time inside LiveCurves.update, as a share of its own epoch (median)")
    print(f"{'mode':<9} {'epoch s':>22} {'vs none':>8} {'in curves':>10} {'redraws':>8} "
          f"{'close() s':>10}")
    for mode in modes:
        epochs = [r["epoch"] for r in runs[mode]]
        spread = f"{median(mode, 'epoch'):.3f} ({min(epochs):.3f}-{max(epochs):.3f})"
        if mode == "none":
            print(f"{mode:<9} {spread:>22}")
            continue
        share = statistics.median(r["in_curves"] / r["epoch"] for r in runs[mode])
        print(f"{mode:<9} {spread:>22} {100 * (median(mode, 'epoch') / base - 1):+7.1f}% "
              f"{100 * share:9.2f}% {median(mode, 'redraws'):8.0f} {median(mode, 'close'):10.3f}")


if __name__ == "__main__":
    main()
