"""Lecture widget: what a convolutional layer learned - its filters and the feature maps they make.

    from handgrad.demos import conv_filters
    conv_filters.show(weights, images, feature_fn)   # live: a slider over images; headless: static figures
    conv_filters.filters_figure(weights)             # the filters as a matplotlib Figure
    conv_filters.feature_maps_figure(image, maps)    # one image and its feature maps

``weights`` are the first layer's filters ``(out, in, k, k)`` (numpy or torch); ``feature_fn``
maps a batch of images ``(1, C, H, W)`` to that layer's output ``(1, out, H', W')``, e.g. the
forward of a numpy ``Conv2D`` followed by ReLU, or the first block of a PyTorch network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from handgrad import live
from handgrad.demos.figures import png as _png

__all__ = ["Explorer", "as_array", "feature_maps_figure", "filters_figure", "show"]

FeatureFn = Callable[[np.ndarray], Any]
# At most this many filters and feature maps are drawn.
MAX_SHOWN = 32


def as_array(value: Any) -> np.ndarray:
    """A float64 numpy copy of a numpy array or a (possibly grad-requiring, GPU) torch tensor."""
    detach = getattr(value, "detach", None)
    if detach is not None:
        value = detach().cpu().numpy()
    return np.array(value, dtype=np.float64, copy=True)


def _new_figure(width: float, height: float) -> Figure:
    """An off-screen figure (no pyplot): nothing is shown twice, nothing leaks."""
    figure = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(figure)
    return figure


def _grid(count: int, columns: int) -> tuple[int, int]:
    """(rows, columns) of a grid holding ``count`` panels, at most ``columns`` wide."""
    columns = max(1, min(columns, count))
    return -(-count // columns), columns


def _filter_image(kernel: np.ndarray) -> tuple[np.ndarray, str | None, float]:
    """A filter (in, k, k) as something imshow can draw: RGB for 3 channels, else the channel mean."""
    if kernel.shape[0] == 3:
        low, high = kernel.min(), kernel.max()
        return (kernel.transpose(1, 2, 0) - low) / (high - low + 1e-12), None, 1.0
    image = kernel.mean(axis=0)
    return image, "gray", float(np.abs(image).max() + 1e-12)  # lightness-monotone: signs survive greyscale


def filters_figure(weights: Any, title: str = "First-layer filters", columns: int = 8) -> Figure:
    """The filters ``(out, in, k, k)`` as small images (bright positive, dark negative, grey zero; RGB for 3 inputs)."""
    W = as_array(weights)
    if W.ndim != 4:
        raise ValueError(f"filters_figure: expected weights of shape (out, in, k, k), got {W.shape}")
    shown = W[:MAX_SHOWN]
    rows, cols = _grid(len(shown), columns)
    figure = _new_figure(1.2 * cols + 0.4, 1.25 * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(shown):
            image, cmap, limit = _filter_image(shown[index])
            if cmap is None:
                ax.imshow(image, interpolation="nearest")
            else:
                ax.imshow(image, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(f"filter {index}", fontsize=7)
    suffix = "" if W.shape[1] in (1, 3) else " (mean over input channels)"
    figure.suptitle(f"{title}: {W.shape[0]} filters of {W.shape[2]}x{W.shape[3]}{suffix}", fontsize=10)
    figure.tight_layout()
    return figure


def feature_maps_figure(image: Any, maps: Any, title: str = "Feature maps", columns: int = 8) -> Figure:
    """One input image (C, H, W) and its feature maps (K, H', W'), each map on its own colour scale."""
    picture, fmaps = as_array(image), as_array(maps)
    if picture.ndim != 3 or fmaps.ndim != 3:
        raise ValueError(f"feature_maps_figure: expected image (C, H, W) and maps (K, H', W'), "
                         f"got {picture.shape} and {fmaps.shape}")
    shown = fmaps[:MAX_SHOWN]
    rows, cols = _grid(len(shown) + 1, columns)
    figure = _new_figure(1.3 * cols + 0.4, 1.35 * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    first = axes.flat[0]
    if picture.shape[0] == 3:
        low, high = picture.min(), picture.max()
        first.imshow((picture.transpose(1, 2, 0) - low) / (high - low + 1e-12))
    else:
        first.imshow(picture[0], cmap="gray")
    first.set_title("input", fontsize=8)
    for index, fmap in enumerate(shown):
        ax = axes.flat[index + 1]
        ax.imshow(fmap, cmap="viridis")
        ax.set_title(f"map {index}", fontsize=7)
    figure.suptitle(f"{title} ({fmaps.shape[0]} maps of {fmaps.shape[1]}x{fmaps.shape[2]})", fontsize=10)
    figure.tight_layout()
    return figure



class Explorer:
    """The feature maps of one image at a time: ``frame(index)`` draws them, ``redraw`` shows them."""

    def __init__(self, images: Any, feature_fn: FeatureFn, labels: Sequence[str] | None = None) -> None:
        self.images = as_array(images)
        if self.images.ndim != 4:
            raise ValueError(f"Explorer: expected images of shape (N, C, H, W), got {self.images.shape}")
        self.feature_fn = feature_fn
        self.labels = labels
        self.draw_count = 0

    def maps(self, index: int) -> np.ndarray:
        """The feature maps (K, H', W') of image ``index``."""
        return as_array(self.feature_fn(self.images[index:index + 1].copy()))[0]

    def frame(self, index: int) -> Figure:
        """The figure of image ``index`` and its feature maps."""
        label = f" - {self.labels[index]}" if self.labels is not None else ""
        return feature_maps_figure(self.images[index], self.maps(index), title=f"Image {index}{label}: feature maps")

    def redraw(self, index: int) -> None:
        """Display the frame of image ``index`` (the slider's callback)."""
        from IPython.display import display

        display(_png(self.frame(index)))
        self.draw_count += 1


def show(weights: Any, images: Any, feature_fn: FeatureFn, labels: Sequence[str] | None = None,
         index: int = 0) -> Any:
    """Display the filters and, live, a slider over the images redrawing their feature maps; headless,
    the filters and the maps of image ``index`` as static figures. Returns the slider widget (None headless)."""
    from IPython.display import display

    explorer = Explorer(images, feature_fn, labels)
    display(_png(filters_figure(weights)))
    if live.is_headless():
        explorer.redraw(index)
        return None
    import ipywidgets as widgets  # type: ignore[import-untyped]

    slider = widgets.IntSlider(value=index, min=0, max=len(explorer.images) - 1, description="image")
    return widgets.interactive(explorer.redraw, index=slider)
