"""Lecture widget: optimizer trajectories on 2-D loss surfaces.

    from handgrad.demos import optimizer_paths
    optimizer_paths.show()                    # torch.optim's paths; live: sliders, headless: one static figure
    optimizer_paths.show(sgd=SGD, adam=Adam)  # the same with the student's optimizers of 07_momentum
    optimizer_paths.static_figure()           # every surface with every optimizer, as a matplotlib Figure

Three surfaces of two parameters (x, y): a narrow valley (a quadratic 50 times steeper
across than along), Rosenbrock's banana valley, and a saddle with two minima on either
side. Four optimizers: gradient descent, heavy-ball momentum, Nesterov momentum and Adam
(whose beta1 the momentum slider sets). Gradients come from torch.autograd; the steps come
from ``torch.optim`` unless the caller hands over its own ``SGD``/``Adam`` classes with
the API of 07_momentum (``SGD(params, lr, momentum, nesterov)``, ``Adam(params, lr,
betas)``, ``step(grads)`` updating a list of numpy arrays in place).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from handgrad import live
from handgrad.demos.figures import png as _png

__all__ = ["OPTIMIZERS", "STYLES", "SURFACES", "Surface", "draw", "show", "static_figure", "trajectory"]

OPTIMIZERS = ("GD", "momentum", "Nesterov", "Adam")
COLORS = {"GD": "C0", "momentum": "C1", "Nesterov": "C2", "Adam": "C3"}
# Line style and marker per optimizer too: the paths stay apart in greyscale and for colour-blind readers.
STYLES = {"GD": ("-", "o"), "momentum": ("--", "s"), "Nesterov": (":", "^"), "Adam": ("-.", "D")}
# A path that leaves this box has diverged: it stops there.
DIVERGED = 1e3


@dataclass(frozen=True)
class Surface:
    """A loss f(x, y) on a box, where the paths start, and good default learning rates per optimizer."""

    name: str
    f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    start: tuple[float, float]
    box: tuple[float, float, float, float]          # x_min, x_max, y_min, y_max
    lr: dict[str, float]
    steps: int
    minima: tuple[tuple[float, float], ...]
    formula: str


SURFACES: dict[str, Surface] = {
    "narrow valley": Surface(
        "narrow valley", lambda x, y: 0.02 * x ** 2 + y ** 2, start=(-9.0, 2.0), box=(-10.0, 10.0, -3.0, 3.0),
        lr={"GD": 0.9, "momentum": 0.2, "Nesterov": 0.2, "Adam": 0.5}, steps=60, minima=((0.0, 0.0),),
        formula="f = 0.02 x² + y²"),
    "Rosenbrock": Surface(
        "Rosenbrock", lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2, start=(-1.2, 1.0),
        box=(-2.0, 2.0, -1.0, 3.0), lr={"GD": 1e-3, "momentum": 1e-3, "Nesterov": 1e-3, "Adam": 0.1},
        steps=500, minima=((1.0, 1.0),), formula="f = (1 - x)² + 100 (y - x²)²"),
    "saddle": Surface(
        "saddle", lambda x, y: 0.5 * x ** 2 - 0.5 * y ** 2 + 0.25 * y ** 4, start=(2.5, 1e-3),
        box=(-3.0, 3.0, -2.0, 2.0), lr={"GD": 0.1, "momentum": 0.1, "Nesterov": 0.1, "Adam": 0.1}, steps=80,
        minima=((0.0, 1.0), (0.0, -1.0)), formula="f = x²/2 - y²/2 + y⁴/4"),
}


def _gradient(surface: Surface, point: np.ndarray) -> np.ndarray:
    """The gradient of the surface at a point (2,), by torch.autograd."""
    xy = torch.tensor(point, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(surface.f(xy[0], xy[1]), xy)
    return grad.numpy().copy()


def _torch_optimizer(optimizer: str, params: list[torch.Tensor], lr: float, momentum: float) -> torch.optim.Optimizer:
    if optimizer == "Adam":
        return torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999))
    return torch.optim.SGD(params, lr=lr, momentum=0.0 if optimizer == "GD" else momentum,
                           nesterov=optimizer == "Nesterov")


def _own_optimizer(optimizer: str, array: np.ndarray, lr: float, momentum: float, sgd: Any, adam: Any) -> Any:
    if optimizer == "Adam":
        return adam([array], lr=lr, betas=(momentum, 0.999))
    return sgd([array], lr=lr, momentum=0.0 if optimizer == "GD" else momentum, nesterov=optimizer == "Nesterov")


def trajectory(surface: Surface | str, optimizer: str, lr: float, momentum: float = 0.9, steps: int | None = None,
               sgd: Any = None, adam: Any = None) -> np.ndarray:
    """The points visited, start included, shape (n, 2): torch.optim, or the given classes when both are given.

    The path stops early when it leaves a large box (diverged) or turns NaN.
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    steps = surface.steps if steps is None else int(steps)
    start = np.array(surface.start, dtype=np.float64)
    points = [start.copy()]
    if sgd is not None and adam is not None:
        array = start.copy()
        own = _own_optimizer(optimizer, array, lr, momentum, sgd, adam)
        for _ in range(steps):
            own.step([_gradient(surface, array)])
            points.append(array.copy())
            if not np.all(np.abs(array) < DIVERGED):
                break
    else:
        xy = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = _torch_optimizer(optimizer, [xy], lr, momentum)
        for _ in range(steps):
            opt.zero_grad()
            surface.f(xy[0], xy[1]).backward()
            opt.step()
            points.append(xy.detach().numpy().copy())
            if not np.all(np.abs(points[-1]) < DIVERGED):
                break
    return np.array(points)


def _loss(surface: Surface, point: np.ndarray) -> float:
    return float(surface.f(torch.tensor(point[0]), torch.tensor(point[1])))


def _contours(ax: Axes, surface: Surface) -> None:
    """Log-spaced contours of the surface (shifted to be positive) and its minima."""
    x0, x1, y0, y1 = surface.box
    xs, ys = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    values = surface.f(torch.tensor(xs), torch.tensor(ys)).numpy()
    shifted = values - values.min() + 1e-3
    ax.contourf(xs, ys, shifted, levels=np.geomspace(shifted.min(), shifted.max(), 25), norm=LogNorm(),
                cmap="Greys_r", alpha=0.6)
    for mx, my in surface.minima:
        ax.plot(mx, my, marker="*", color="gold", markersize=13, markeredgecolor="k", zorder=5)
    ax.plot(*surface.start, marker="o", color="k", markersize=5, zorder=5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _path(ax: Axes, surface: Surface, path: np.ndarray, label: str, optimizer: str, steps: int,
          alpha: float = 1.0) -> None:
    """One path, styled by its optimizer; the legend says where it ended, or when it diverged."""
    linestyle, marker = STYLES[optimizer]
    taken = len(path) - 1
    ending = (f"diverged after {taken} steps" if taken < steps
              else f"f = {_loss(surface, path[-1]):.3g} after {taken} steps")
    ax.plot(path[:, 0], path[:, 1], linestyle=linestyle, marker=marker, color=COLORS[optimizer], markersize=3,
            markevery=max(1, taken // 25), linewidth=1.2, alpha=alpha, label=f"{label}: {ending}")


def _new_figure(width: float, height: float) -> Figure:
    """An off-screen figure (no pyplot): nothing shown twice, nothing leaks."""
    figure = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(figure)
    return figure


def draw(surface: str, optimizer: str, lr: float, momentum: float, steps: int, sgd: Any = None,
         adam: Any = None) -> Figure:
    """One surface with one optimizer's path (and plain GD at the same learning rate, faint, to compare)."""
    chosen = SURFACES[surface]
    figure = _new_figure(7.5, 4.6)
    ax = figure.subplots()
    _contours(ax, chosen)
    if optimizer != "GD":
        _path(ax, chosen, trajectory(chosen, "GD", lr, 0.0, steps, sgd, adam), "GD, same lr", "GD", steps, 0.4)
    _path(ax, chosen, trajectory(chosen, optimizer, lr, momentum, steps, sgd, adam), optimizer, optimizer, steps)
    knob = "" if optimizer == "GD" else f", {'beta1' if optimizer == 'Adam' else 'momentum'} = {momentum:g}"
    # Every control appears in the title: a moved control always changes the picture, even when the
    # paths do not change (both diverged before the old step count, or both converged long before).
    ax.set_title(f"{surface} ({chosen.formula}): {optimizer}, lr = {lr:.3g}{knob}, steps = {steps}", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    return figure


def static_figure(sgd: Any = None, adam: Any = None, momentum: float = 0.9) -> Figure:
    """Every surface side by side, every optimizer at its default learning rate for that surface."""
    figure = _new_figure(16.0, 5.0)
    axes = figure.subplots(1, len(SURFACES))
    for ax, surface in zip(axes, SURFACES.values()):
        _contours(ax, surface)
        for optimizer in reversed(OPTIMIZERS):       # GD last, on top: it is the one to beat
            lr = surface.lr[optimizer]
            path = trajectory(surface, optimizer, lr, momentum, None, sgd, adam)
            _path(ax, surface, path, f"{optimizer} (lr {lr:g})", optimizer, surface.steps)
        ax.set_title(f"{surface.name}: {surface.formula}", fontsize=10)
        ax.legend(loc="lower left", fontsize=7)
    source = "your SGD and Adam" if sgd is not None and adam is not None else "torch.optim"
    figure.suptitle(f"Optimizer paths from the black dot (momentum / beta1 = {momentum:g}; steps by {source})")
    figure.tight_layout()
    return figure



def show(sgd: Any = None, adam: Any = None) -> Any:
    """Display the demo: live, a widget (returned); headless, :func:`static_figure` (returns None)."""
    from IPython.display import display

    if live.is_headless():
        display(_png(static_figure(sgd, adam)))
        return None
    import ipywidgets as widgets  # type: ignore[import-untyped]

    surface = widgets.Dropdown(options=list(SURFACES), value="narrow valley", description="surface")
    optimizer = widgets.Dropdown(options=list(OPTIMIZERS), value="momentum", description="optimizer")
    # continuous_update=False: one redraw when the handle is let go, not one per pixel of a drag.
    lr = widgets.FloatLogSlider(value=SURFACES["narrow valley"].lr["momentum"], base=10, min=-4, max=0.5,
                                step=0.05, description="lr", readout_format=".2g", continuous_update=False)
    momentum = widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01, description="momentum",
                                   continuous_update=False)
    steps = widgets.IntSlider(value=SURFACES["narrow valley"].steps, min=5, max=500, step=5, description="steps",
                              continuous_update=False)

    def defaults(_: Any = None) -> None:
        """A newly picked surface or optimizer starts from its good learning rate and step count."""
        lr.value = SURFACES[surface.value].lr[optimizer.value]
        steps.value = SURFACES[surface.value].steps

    surface.observe(defaults, names="value")
    optimizer.observe(defaults, names="value")

    def redraw(surface: str, optimizer: str, lr: float, momentum: float, steps: int) -> Figure:
        figure = draw(surface, optimizer, lr, momentum, steps, sgd, adam)
        display(_png(figure))
        return figure

    widget = widgets.interactive(redraw, surface=surface, optimizer=optimizer, lr=lr, momentum=momentum,
                                 steps=steps)
    display(widget)
    return widget
