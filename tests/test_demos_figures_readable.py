"""Every lecture demo figure is readable without colour: titled, labelled, greyscale-safe colour maps.

Rules (issue 13, accessibility): each Axes has a title; each Axes whose axes are drawn also has x
and y labels (a picture drawn with its axes off, such as a weight image or a feature map, has no
axes to label); each image or filled contour uses a colour map whose lightness is monotone (it
reads the same in greyscale) or comes with a colorbar; the optimizer paths differ by line style
and marker, not by colour alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from handgrad.demos import bn_histograms, conv_filters, jacobian, mlp_units, optimizer_paths


def luminance(cmap: Colormap, samples: int = 64) -> np.ndarray:
    """Relative luminance (sRGB linearised, Rec. 709 weights) of the map from its low to its high end."""
    rgb = np.asarray(cmap(np.linspace(0.0, 1.0, samples)))[:, :3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def monotone(cmap: Colormap) -> bool:
    """True when the map's lightness only rises or only falls (a little noise allowed)."""
    steps = np.diff(luminance(cmap))
    return bool(np.all(steps >= -1e-3) or np.all(steps <= 1e-3))


def is_colorbar(ax: Axes) -> bool:
    return ax.get_label() == "<colorbar>"


def problems(figure: Figure) -> list[str]:
    """One line per rule an Axes of the figure breaks."""
    found = []
    bars = {id(ax) for ax in figure.get_axes() if is_colorbar(ax)}
    with_colorbar = {id(bar.mappable) for ax in figure.get_axes() if is_colorbar(ax)
                     for bar in [getattr(ax, "_colorbar", None)] if bar is not None}
    for number, ax in enumerate(figure.get_axes()):
        if id(ax) in bars or not ax.get_visible():
            continue
        drawn = ax.axison
        empty = not (ax.images or ax.lines or ax.patches or ax.collections)
        if empty and not drawn:
            continue  # a spare cell of a grid
        if not ax.get_title():
            found.append(f"axes {number}: no title")
        if drawn and not (ax.get_xlabel() and ax.get_ylabel()):
            found.append(f"axes {number} ({ax.get_title()!r}): x or y label missing")
        mappables: list[ScalarMappable] = [*ax.images, *(c for c in ax.collections if c.get_array() is not None)]
        for mappable in mappables:
            if getattr(mappable, "get_array", None) is not None and np.ndim(mappable.get_array()) == 3:
                continue  # an RGB picture: its own colours, no colour map
            if not monotone(mappable.get_cmap()) and id(mappable) not in with_colorbar:
                found.append(f"axes {number} ({ax.get_title()!r}): colour map {mappable.get_cmap().name} is "
                             "not monotone in lightness and has no colorbar")
    return found


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"W": rng.normal(size=(784, 10)), "images": rng.random((12, 784)), "labels": rng.integers(0, 3, size=12),
            "conv_images": rng.random((3, 1, 12, 12)), "X": rng.normal(size=(64, 20)),
            "filters": rng.normal(size=(6, 1, 5, 5))}


# Every figure the demos draw, on small made-up inputs.
FIGURES: dict[str, Callable[[dict[str, np.ndarray]], Figure]] = {
    "optimizer static": lambda _: optimizer_paths.static_figure(),
    "optimizer frame": lambda _: optimizer_paths.draw("saddle", "Adam", 0.1, 0.9, 40),
    "mlp unit": lambda d: mlp_units.unit_figure(d["W"], np.zeros(10), d["images"], d["labels"], ["a", "b", "c"], 2),
    "mlp grid": lambda d: mlp_units.grid_figure(d["W"], units=10),
    "bn histograms": lambda d: bn_histograms.static_figure(d["X"], depth=4, width=16),
    "jacobian static": lambda _: jacobian.static_figure(),
    "jacobian frame": lambda _: jacobian.frame_figure([1.0, 0.0, -1.0], 1),
    "conv filters": lambda d: conv_filters.filters_figure(d["filters"]),
    "conv maps": lambda d: conv_filters.Explorer(d["conv_images"],
                                                 lambda b: np.maximum(b[:, [0, 0, 0]] - 0.5, 0.0)).frame(0),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_demo_figure_is_titled_labelled_and_greyscale_safe(name: str) -> None:
    found = problems(FIGURES[name](_inputs()))
    assert not found, f"{name}:\n" + "\n".join(found)


def test_the_rules_catch_a_red_blue_map_an_unlabelled_axes_and_pass_a_colorbar() -> None:
    from handgrad.demos.figures import new_figure

    figure = new_figure(4, 3)
    ax = figure.subplots()
    ax.imshow(np.eye(3), cmap="RdBu_r")
    assert any("RdBu_r" in line for line in problems(figure))
    assert any("no title" in line for line in problems(figure))
    assert any("label missing" in line for line in problems(figure))
    ax.set_title("t")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    figure.colorbar(ax.images[0], ax=ax)
    assert problems(figure) == []
    assert monotone(ax.images[0].get_cmap().reversed()) is False


def test_optimizer_paths_differ_by_line_style_and_marker() -> None:
    styles = list(optimizer_paths.STYLES.values())
    assert set(optimizer_paths.STYLES) == set(optimizer_paths.OPTIMIZERS)
    assert len({s for s, _ in styles}) == len(styles) and len({m for _, m in styles}) == len(styles)
    ax = optimizer_paths.static_figure().get_axes()[0]
    drawn = {(line.get_linestyle(), line.get_marker()) for line in ax.get_legend().get_lines()}
    assert len(drawn) == len(optimizer_paths.OPTIMIZERS)
