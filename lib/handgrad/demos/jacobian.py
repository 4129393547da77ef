"""Lecture widget: the softmax Jacobian, as one logit moves.

    from handgrad.demos import jacobian
    jacobian.show()                 # live: a slider for one logit; headless: three static frames
    jacobian.static_figure()        # the frames as a matplotlib Figure (scripts, slides)

Left, the probabilities ``p = softmax(z)``; right, the Jacobian ``J[i, j] = d p_i / d z_j``
as a heatmap, with the column of the moving logit framed. The Jacobian comes from
torch.autograd (:func:`handgrad.oracles.softmax_jacobian`), so the demo shows what the
matrix looks like without giving away its closed form.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike

from handgrad import live, oracles
from handgrad.demos.figures import new_figure, png

__all__ = ["frame_figure", "softmax_and_jacobian", "static_figure", "show"]

DEFAULT_LOGITS = (2.0, 1.0, 0.0, -1.0, 0.5)
# One fixed colour scale for every frame, so that frames can be compared; no entry exceeds it.
COLOR_LIMIT = 0.25
# Entries are written into the heatmap's cells up to this many classes.
ANNOTATE_UP_TO = 8


def softmax_and_jacobian(z: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """softmax(z) (C,) and its Jacobian (C, C), entry [i, j] = d p_i / d z_j, both by torch."""
    return oracles.softmax(z, dim=0), oracles.softmax_jacobian(z)


def _draw(ax_probs: Axes, ax_jac: Axes, z: np.ndarray, index: int) -> None:
    """Probabilities as bars (the moving logit's class highlighted) and the Jacobian as a heatmap."""
    s, jac = softmax_and_jacobian(z)
    classes = len(z)
    # The moving logit's bar is hatched as well as coloured: it stays marked in greyscale.
    bars = ax_probs.bar(range(classes), s, color=["C1" if i == index else "C0" for i in range(classes)])
    bars[index].set_hatch("//")
    ax_probs.set_ylim(0, 1)
    ax_probs.set_xticks(range(classes), [f"p_{i}" for i in range(classes)])
    ax_probs.set_xlabel("class i", fontsize=9)
    ax_probs.set_ylabel("probability p_i", fontsize=9)
    ax_probs.set_title(f"softmax(z), z_{index} = {z[index]:.2f}", fontsize=10)

    # cividis is monotone in lightness (dark: negative, light: positive), so signs survive greyscale;
    # the colorbar's signed ticks and the numbers in the cells say the same.
    image = ax_jac.imshow(jac, cmap="cividis", vmin=-COLOR_LIMIT, vmax=COLOR_LIMIT)
    bar = ax_jac.figure.colorbar(image, ax=ax_jac, fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=7)
    ax_jac.set_xticks(range(classes), [f"z_{j}" for j in range(classes)])
    ax_jac.set_yticks(range(classes), [f"p_{i}" for i in range(classes)])
    ax_jac.set_xlabel("logit z_j", fontsize=9)
    ax_jac.set_ylabel("probability p_i", fontsize=9)
    ax_jac.set_title("J[i, j] = d p_i / d z_j", fontsize=10)
    if classes <= ANNOTATE_UP_TO:
        for (i, j), value in np.ndenumerate(jac):
            shown = f"{value:.2f}" if abs(value) >= 0.005 else "0"  # no "-0.00"
            ax_jac.text(j, i, shown, ha="center", va="center", fontsize=7,
                        color="white" if value < -0.2 * COLOR_LIMIT else "black")  # white on the dark end
    # Column `index`: how every probability responds to the logit that moves.
    ax_jac.add_patch(Rectangle((index - 0.5, -0.5), 1, classes, fill=False, edgecolor="C1", linewidth=2,
                              clip_on=False))


def frame_figure(z: ArrayLike, index: int) -> Figure:
    """The live widget's frame: the probabilities and the Jacobian at logits ``z``, logit ``index`` moving."""
    figure = new_figure(8.6, 3.4)
    ax_probs, ax_jac = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    _draw(ax_probs, ax_jac, np.asarray(z, dtype=np.float64), index)
    figure.tight_layout()
    return figure


def static_figure(logits: ArrayLike = DEFAULT_LOGITS, index: int = 0,
                  values: Sequence[float] = (-3.0, 0.0, 3.0)) -> Figure:
    """One column per value of logit ``index``: probabilities on top, the Jacobian below."""
    base = np.asarray(logits, dtype=np.float64)
    figure = new_figure(3.2 * len(values), 6.0)
    axes = figure.subplots(2, len(values), squeeze=False, gridspec_kw={"height_ratios": [1, 1.6]})
    for column, value in enumerate(values):
        z = base.copy()
        z[index] = value
        _draw(axes[0, column], axes[1, column], z, index)
    shown = ", ".join(f"{v:g}" for v in base)
    figure.suptitle(f"The softmax Jacobian as z_{index} moves (other logits as in z = ({shown}))")
    figure.tight_layout()
    return figure


def show(logits: ArrayLike = DEFAULT_LOGITS, index: int = 0,
         values: Sequence[float] = (-3.0, 0.0, 3.0)) -> None:
    """Display the demo: live, a widget to pick a logit and move it; headless, :func:`static_figure`."""
    from IPython.display import display

    if live.is_headless():
        display(png(static_figure(logits, index, values)))
        return
    import ipywidgets as widgets

    base = np.asarray(logits, dtype=np.float64)
    which = widgets.Dropdown(options=[(f"z_{i}", i) for i in range(len(base))], value=index,
                             description="move")
    slider = widgets.FloatSlider(value=float(base[index]), min=-6.0, max=6.0, step=0.1, description="value")
    # A newly picked logit starts from its own value.
    which.observe(lambda change: setattr(slider, "value", float(base[change["new"]])), names="value")

    def redraw(moving: int, value: float) -> None:
        z = base.copy()
        z[moving] = value
        display(png(frame_figure(z, moving)))

    display(widgets.interactive(redraw, moving=which, value=slider))
