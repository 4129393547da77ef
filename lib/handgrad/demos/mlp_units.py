"""Lecture widget of 06_mlp: what the first layer of a trained MLP responds to.

    from handgrad.demos import mlp_units
    mlp_units.show(W, b, X_val, y_val, class_names)   # live: a slider over the units; headless: a grid
    mlp_units.unit_figure(W, b, X_val, y_val, class_names, unit=3)   # one unit, as a Figure
    mlp_units.grid_figure(W)                                          # the first units' weights, as a Figure

Unit ``j`` of the first layer computes ``relu(x @ W[:, j] + b[j])``, so its column of weights,
reshaped to the image's shape, is the pattern it responds to. The unit figure shows that
pattern next to the images of the set that excite the unit most (the largest outputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from handgrad import live
from handgrad.demos.figures import png as _png

__all__ = ["grid_figure", "show", "top_images", "unit_figure"]

IMAGE_SHAPE = (28, 28)


def _check(W: np.ndarray, shape: tuple[int, int]) -> None:
    """Raise ValueError unless W is (pixels, units) with pixels matching the image shape."""
    if W.ndim != 2 or W.shape[0] != shape[0] * shape[1]:
        raise ValueError(f"expected first-layer weights W of shape ({shape[0] * shape[1]}, units), got {W.shape}")


def top_images(W: ArrayLike, b: ArrayLike, images: ArrayLike, unit: int, count: int = 6) -> np.ndarray:
    """Indices of the ``count`` images with the largest output relu(x @ W[:, unit] + b[unit]), largest first."""
    W_np, images_np = np.asarray(W, dtype=np.float64), np.asarray(images, dtype=np.float64)
    bias = float(np.asarray(b, dtype=np.float64).reshape(-1)[unit])
    output = np.maximum(images_np @ W_np[:, unit] + bias, 0.0)
    return np.argsort(-output, kind="stable")[:count]


def _weights_image(ax: Any, column: np.ndarray, shape: tuple[int, int]) -> Any:
    """A weight column as an image: bright positive, dark negative, mid-grey zero (symmetric scale).

    A grey map, monotone in lightness, keeps the sign readable in greyscale print and for
    colour-blind readers (a red-blue map loses it: both of its ends are dark).
    """
    limit = float(np.abs(column).max()) or 1.0
    image = ax.imshow(column.reshape(shape), cmap="gray", vmin=-limit, vmax=limit)
    ax.axis("off")
    return image


def unit_figure(W: ArrayLike, b: ArrayLike, images: ArrayLike, labels: ArrayLike, class_names: Sequence[str],
                unit: int = 0, count: int = 6, shape: tuple[int, int] = IMAGE_SHAPE) -> Figure:
    """One unit's weights and the ``count`` images that excite it most, titled with their classes."""
    W_np = np.asarray(W, dtype=np.float64)
    _check(W_np, shape)
    images_np, labels_np = np.asarray(images, dtype=np.float64), np.asarray(labels)
    figure = Figure(figsize=(12, 2.3))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, count + 1)
    weights = _weights_image(axes[0], W_np[:, unit], shape)
    axes[0].set_title(f"unit {unit}: weights", fontsize=9)
    bar = figure.colorbar(weights, ax=axes[0], fraction=0.046, pad=0.04)
    bar.set_label("weight (+ excites)", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    for ax, index in zip(axes[1:], top_images(W_np, b, images_np, unit, count)):
        ax.imshow(images_np[index].reshape(shape), cmap="gray")
        ax.set_title(str(class_names[int(labels_np[index])]), fontsize=9)
        ax.axis("off")
    figure.suptitle(f"First-layer unit {unit} and the {count} images that excite it most", fontsize=10)
    figure.tight_layout()
    return figure


def grid_figure(W: ArrayLike, units: int = 24, columns: int = 8, shape: tuple[int, int] = IMAGE_SHAPE) -> Figure:
    """The weights of the first ``units`` first-layer units as a grid of images."""
    W_np = np.asarray(W, dtype=np.float64)
    _check(W_np, shape)
    units = min(units, W_np.shape[1])
    rows = -(-units // columns)
    figure = Figure(figsize=(1.5 * columns, 1.6 * rows + 0.4))
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(rows, columns)).reshape(-1)
    for unit, ax in enumerate(axes):
        if unit < units:
            _weights_image(ax, W_np[:, unit], shape)
            ax.set_title(f"unit {unit}", fontsize=8)
        else:
            ax.axis("off")
    figure.suptitle("First-layer weights (white: a bright pixel there excites the unit, black: it inhibits it, "
                    "grey: no effect)")
    figure.tight_layout()
    return figure



def show(W: ArrayLike, b: ArrayLike, images: ArrayLike, labels: ArrayLike, class_names: Sequence[str],
         shape: tuple[int, int] = IMAGE_SHAPE) -> Any:
    """Display the demo: live, a slider over the units (returns the widget); headless, :func:`grid_figure`."""
    from IPython.display import display

    W_np = np.asarray(W, dtype=np.float64)
    _check(W_np, shape)
    if live.is_headless():
        display(_png(grid_figure(W_np, shape=shape)))
        return None
    import ipywidgets as widgets  # type: ignore[import-untyped]

    def redraw(unit: int) -> Figure:
        figure = unit_figure(W_np, b, images, labels, class_names, unit=unit, shape=shape)
        display(_png(figure))
        return figure

    widget = widgets.interactive(redraw, unit=widgets.IntSlider(value=0, min=0, max=W_np.shape[1] - 1,
                                                                description="unit"))
    display(widget)
    return widget
