"""Forward + backward of the course's numpy Conv2D against torch's conv2d on the CPU (a script, not a test).

The numpy layer is the reference solution of 08_cnn: the solution cells ``conv2d`` and
``conv2d_backward`` are taken from ``source/08_cnn/08_cnn.ipynb`` and executed here. The layer is
a realistic one: a batch of 64, 32 -> 64 channels, 3x3 kernel, 28x28 images, padding 1.
torch computes the same forward (``F.conv2d``) and backward (``torch.autograd.grad`` with the
same upstream gradient) in float64, the course's precision, and in float32 for reference. The
three run interleaved, ``--repeats`` times each (at least 5), and the medians are compared.
numpy's BLAS and torch run on the same number of threads (``--threads``, default 1).

    .venv/bin/python benchmarks/conv_layer.py [--repeats 7] [--threads 1]

Target: numpy no slower than 3x torch (float64).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path


def _threads_from_argv() -> str:
    """The --threads value, read before numpy and torch are imported (they fix their pools at import)."""
    for index, argument in enumerate(sys.argv):
        if argument == "--threads" and index + 1 < len(sys.argv):
            return sys.argv[index + 1]
        if argument.startswith("--threads="):
            return argument.split("=", 1)[1]
    return "1"


THREADS = _threads_from_argv()
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = THREADS
# The thread variables above must be set before numpy and torch load.
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

COURSE = Path(__file__).resolve().parents[1]
NOTEBOOK = COURSE / "source" / "08_cnn" / "08_cnn.ipynb"
BATCH, C_IN, C_OUT, SIZE, KERNEL, PADDING = 64, 32, 64, 28, 3, 1


def reference_conv2d() -> type:
    """The Conv2D class of the notebook's reference solution (cells conv2d and conv2d_backward)."""
    notebook = nbformat.read(str(NOTEBOOK), as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in notebook.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    namespace: dict = {"np": np, "sliding_window_view": sliding_window_view}
    for grade_id in ("conv2d", "conv2d_backward"):
        exec(compile(cells[grade_id], f"<{grade_id}>", "exec"), namespace)  # noqa: S102  (the course's own cell)
    return namespace["Conv2D"]


def main() -> None:
    """Time the three implementations interleaved and print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each (at least 5)")
    parser.add_argument("--threads", type=int, default=1, help="threads for numpy's BLAS and for torch")
    args = parser.parse_args()
    repeats = max(5, args.repeats)
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, C_IN, SIZE, SIZE))
    delta = rng.normal(size=(BATCH, C_OUT, SIZE, SIZE)) / BATCH
    layer = reference_conv2d()(C_IN, C_OUT, KERNEL, padding=PADDING,
                               weight_init_fn=lambda *shape: rng.normal(0.0, 0.05, size=shape))

    def numpy_step() -> None:
        layer.forward(x)
        layer.backward(delta)

    def torch_step(dtype: torch.dtype) -> Callable[[], tuple[torch.Tensor, ...]]:
        tensors = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in (x, layer.W, layer.b)]
        grad = torch.tensor(delta, dtype=dtype)

        def step() -> tuple[torch.Tensor, ...]:
            out = F.conv2d(tensors[0], tensors[1], tensors[2], padding=PADDING)
            return torch.autograd.grad(out, tensors, grad_outputs=grad)
        return step

    torch64 = torch_step(torch.float64)
    steps: dict[str, Callable[[], object]] = {"numpy float64 (course Conv2D)": numpy_step, "torch float64": torch64,
             "torch float32": torch_step(torch.float32)}

    # The same answer first: otherwise the timing compares different computations.
    layer.forward(x)
    dx = layer.backward(delta)
    dx_t = torch64()[0].numpy()
    error = float(np.abs(dx - dx_t).max())
    for step in steps.values():          # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():  # interleaved: a load change hits all three alike
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)

    median = {name: statistics.median(values) for name, values in times.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"forward+backward: batch {BATCH}, {C_IN}->{C_OUT} channels, {KERNEL}x{KERNEL}, {SIZE}x{SIZE}, "
          f"padding {PADDING}; {repeats} repeats, {args.threads} thread(s), load average {load:.1f}; "
          f"max |dx numpy - dx torch| = {error:.1e}")
    for name, value in median.items():
        print(f"  {name:32s} median {1000 * value:8.1f} ms  (min {1000 * min(times[name]):.1f} ms)")
    numpy_time = median["numpy float64 (course Conv2D)"]
    ratio = numpy_time / median["torch float64"]
    print(f"ratio numpy / torch float64: {ratio:.2f}x (target <= 3x: {'met' if ratio <= 3 else 'NOT met'})")
    print(f"ratio numpy / torch float32: {numpy_time / median['torch float32']:.2f}x")


if __name__ == "__main__":
    main()
