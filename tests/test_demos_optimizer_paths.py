"""The optimizer-paths lecture widget: paths, the static figure headless, the live widget's redraw."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from handgrad.demos import optimizer_paths


class ListSGD:
    """A minimal SGD with the 07 API (momentum 0 only), to run the widget on given classes."""

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        assert momentum == 0.0 and not nesterov
        self.params, self.lr = params, lr

    def step(self, grads):
        for p, g in zip(self.params, grads):
            p -= self.lr * g


def test_gd_path_is_gradient_descent_on_the_valley() -> None:
    surface = optimizer_paths.SURFACES["narrow valley"]
    path = optimizer_paths.trajectory(surface, "GD", lr=0.1, steps=5)
    assert path.shape == (6, 2)
    point = np.array(surface.start)
    for row in path[1:]:
        point = point - 0.1 * np.array([0.04 * point[0], 2.0 * point[1]])   # f = 0.02 x² + y²
        np.testing.assert_allclose(row, point, rtol=1e-12)


def test_given_classes_are_used_instead_of_torch_optim() -> None:
    ours = optimizer_paths.trajectory("Rosenbrock", "GD", lr=1e-3, steps=20, sgd=ListSGD, adam=object)
    theirs = optimizer_paths.trajectory("Rosenbrock", "GD", lr=1e-3, steps=20)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_a_diverging_path_stops() -> None:
    path = optimizer_paths.trajectory("narrow valley", "GD", lr=5.0, steps=400)
    assert len(path) < 401 and not np.all(np.abs(path[-1]) < optimizer_paths.DIVERGED)


def test_unknown_optimizer_is_refused() -> None:
    with pytest.raises(ValueError, match="optimizer must be one of"):
        optimizer_paths.trajectory("saddle", "RMSprop", lr=0.1)


def test_static_figure_has_every_surface_titled_and_labelled() -> None:
    figure = optimizer_paths.static_figure()
    axes = figure.get_axes()
    titles = " ".join(ax.get_title() for ax in axes)
    for name in optimizer_paths.SURFACES:
        assert name in titles
    for ax in axes[:len(optimizer_paths.SURFACES)]:
        assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
        assert len(ax.get_legend().get_texts()) == len(optimizer_paths.OPTIMIZERS)


def test_headless_show_displays_one_static_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDGRAD_HEADLESS", "1")
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **_: shown.extend(objects))
    assert optimizer_paths.show() is None
    assert len(shown) == 1 and type(shown[0]).__name__ == "Image"


def test_live_widget_redraws_when_a_slider_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("HANDGRAD_HEADLESS", "0")
    monkeypatch.setattr("IPython.display.display", lambda *objects, **_: None)
    torch.manual_seed(0)
    widget = optimizer_paths.show()
    assert isinstance(widget.result, Figure)
    assert "lr = 0.2" in widget.result.get_axes()[0].get_title()
    controls = {child.description: child for child in widget.children if hasattr(child, "description")}
    controls["lr"].value = 0.05
    assert "lr = 0.05" in widget.result.get_axes()[0].get_title()
    controls["surface"].value = "saddle"       # a new surface brings its default learning rate
    title = widget.result.get_axes()[0].get_title()
    assert title.startswith("saddle") and "lr = 0.1" in title


def test_moving_steps_redraws_even_when_the_paths_cannot_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lecture page's bug: on Rosenbrock with Nesterov at lr 1e-2 both paths diverge within 5 steps, so
    500 or 450 steps drew the same picture and the steps slider looked dead. The title names the step count."""
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("HANDGRAD_HEADLESS", "0")
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda *objects, **_: shown.extend(objects))
    widget = optimizer_paths.show()
    controls = {child.description: child for child in widget.children if hasattr(child, "description")}
    assert not any(controls[name].continuous_update for name in ("lr", "momentum", "steps"))  # one redraw per move
    controls["surface"].value = "Rosenbrock"
    controls["optimizer"].value = "Nesterov"
    controls["lr"].value = 1e-2
    assert len(optimizer_paths.trajectory("Rosenbrock", "GD", 1e-2, 0.9, 500)) < 10   # diverged early
    before, images = widget.result, len(shown)
    controls["steps"].value = 450
    assert widget.result is not before and len(shown) == images + 1
    title = widget.result.get_axes()[0].get_title()
    assert "steps = 450" in title and "steps = 450" not in before.get_axes()[0].get_title()
    assert "diverged after" in " ".join(t.get_text() for t in widget.result.get_axes()[0].get_legend().get_texts())
    assert shown[-1].data != shown[-2].data    # the PNG the page shows changed
