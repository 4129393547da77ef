"""Lecture widget: activation histograms of a deep sigmoid network, without and with BatchNorm.

    from handgrad.demos import bn_histograms
    bn_histograms.show(X)                       # live: sliders for depth and weight scale; headless: one figure
    bn_histograms.static_figure(X, depth=10, weight_scale=4.0)   # a matplotlib Figure (scripts, slides)

A batch ``X`` (N, in) goes through ``depth`` layers Linear -> [BatchNorm] -> Sigmoid of one
width. Weights are drawn from N(0, weight_scale**2 / n_in), biases are zero. The top row of
the figure shows the sigmoid outputs of a few layers without BatchNorm, the bottom row the
same network (same weights) with a BatchNorm in training mode before every sigmoid. The
building blocks are the course's reference ``handgrad.blocks`` (only their forward is used);
``batchnorm=`` accepts any class with the 05_batchnorm API, e.g. a student's own ``BatchNorm``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from handgrad import blocks, live
from handgrad.demos.figures import png as as_image

__all__ = ["as_image", "layer_activations", "saturation", "show", "static_figure"]

# A sigmoid output below LOW or above HIGH counts as saturated (its slope is under 0.01).
LOW, HIGH = 0.01, 0.99
BINS = np.linspace(0.0, 1.0, 41)


def layer_activations(X: ArrayLike, depth: int = 10, weight_scale: float = 1.0, width: int = 256,
                      batchnorm: Callable[[int], Any] | None = None, seed: int = 0) -> list[np.ndarray]:
    """Sigmoid outputs (N, width) of each of ``depth`` layers; BatchNorm (train mode) before each sigmoid if given."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if weight_scale <= 0:
        raise ValueError(f"weight_scale must be positive, got {weight_scale}")
    rng = np.random.default_rng(seed)
    out = np.asarray(X, dtype=np.float64)
    activations = []
    for n_in in [out.shape[1]] + [width] * (depth - 1):
        weights = rng.normal(0.0, weight_scale / np.sqrt(n_in), size=(n_in, width))
        layer = blocks.Linear(n_in, width, _given(weights), np.zeros)
        z = layer.forward(out)
        if batchnorm is not None:
            z = np.asarray(batchnorm(width).forward(z), dtype=np.float64)
        out = blocks.Sigmoid().forward(z)
        activations.append(out)
    return activations


def _given(weights: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """A weight_init_fn that returns these weights."""
    return lambda n_in, n_out: weights


def saturation(activation: np.ndarray) -> float:
    """Fraction of sigmoid outputs in a flat region (below 0.01 or above 0.99)."""
    return float(np.mean((activation < LOW) | (activation > HIGH)))


def shown_layers(depth: int, columns: int = 5) -> list[int]:
    """Up to ``columns`` layer numbers (1-based) spread from the first to the last."""
    return sorted({round(v) for v in np.linspace(1, depth, min(columns, depth))})


def _new_figure(width: float, height: float) -> Figure:
    """An off-screen figure (no pyplot): nothing is shown twice, nothing leaks."""
    figure = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(figure)
    return figure


def static_figure(X: ArrayLike, depth: int = 10, weight_scale: float = 1.0, width: int = 256,
                  batchnorm: Callable[[int], Any] = blocks.BatchNorm, layers: Sequence[int] | None = None,
                  seed: int = 0) -> Figure:
    """Histograms of the sigmoid outputs of a few layers: top row without BatchNorm, bottom row with it."""
    rows = {"without BatchNorm": layer_activations(X, depth, weight_scale, width, None, seed),
            "with BatchNorm": layer_activations(X, depth, weight_scale, width, batchnorm, seed)}
    picked = list(layers) if layers is not None else shown_layers(depth)
    figure = _new_figure(2.4 * len(picked) + 0.6, 5.2)
    axes = figure.subplots(2, len(picked), squeeze=False, sharex=True)
    for row, (label, activations) in enumerate(rows.items()):
        for column, number in enumerate(picked):
            a = activations[number - 1]
            ax = axes[row, column]
            ax.hist(a.ravel(), bins=BINS, color="C0" if row == 0 else "C2", density=True)
            ax.set_yticks([])
            ax.set_title(f"layer {number}: std {a.std():.2f}\nsaturated {saturation(a):.0%}", fontsize=8)
            ax.set_xlabel("sigmoid output", fontsize=8)
            ax.set_ylabel(f"{label}\n(density)" if column == 0 else "density", fontsize=9 if column == 0 else 8)
    figure.suptitle(f"Sigmoid outputs of a {depth}-layer network of width {width}, "
                    f"W ~ N(0, {weight_scale:g}² / n_in)", fontsize=10)
    figure.tight_layout()
    return figure



def show(X: ArrayLike, depth: int = 10, weight_scale: float = 1.0, width: int = 256,
         batchnorm: Callable[[int], Any] = blocks.BatchNorm) -> Any:
    """Display the demo: live, sliders for depth and weight scale (returns the widget); headless, one static figure."""
    from IPython.display import display

    if live.is_headless():
        display(as_image(static_figure(X, depth, weight_scale, width, batchnorm)))
        return None
    import ipywidgets as widgets

    def redraw(depth: int, weight_scale: float) -> None:
        display(as_image(static_figure(X, depth, weight_scale, width, batchnorm)))

    depth_slider = widgets.IntSlider(value=depth, min=1, max=30, description="depth", continuous_update=False)
    scale_slider = widgets.FloatLogSlider(value=weight_scale, base=10, min=-1, max=1.5, step=0.05,
                                          description="weight scale", continuous_update=False)
    widget = widgets.interactive(redraw, depth=depth_slider, weight_scale=scale_slider)
    display(widget)
    return widget
