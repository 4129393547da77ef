"""Tests of handgrad.demos.mlp_units: the figures exist, headless shows the static grid, the slider redraws."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from handgrad.demos import mlp_units

SHAPE = (4, 5)
CLASSES = ["zero", "one", "two"]


def _network(units: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(20, units)), rng.normal(size=units), rng.normal(size=(30, 20)),
            rng.integers(0, 3, size=30))


@pytest.fixture
def displayed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Everything passed to IPython's display."""
    import IPython.display

    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects, **_: shown.extend(objects))
    return shown


def test_top_images_are_the_largest_outputs_first() -> None:
    W, b, X, _ = _network()
    order = mlp_units.top_images(W, b, X, unit=2, count=4)
    outputs = np.maximum(X @ W[:, 2] + b[2], 0)
    assert list(outputs[order]) == sorted(outputs, reverse=True)[:4]


def test_unit_figure_shows_the_weights_and_the_top_images() -> None:
    W, b, X, y = _network()
    figure = mlp_units.unit_figure(W, b, X, y, CLASSES, unit=3, count=5, shape=SHAPE)
    images = [ax.get_images()[0] for ax in figure.axes if ax.get_images()]
    assert len(images) == 6
    np.testing.assert_array_equal(images[0].get_array(), W[:, 3].reshape(SHAPE))
    top = mlp_units.top_images(W, b, X, 3, 5)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]   # the weights' colorbar aside
    assert [ax.get_title() for ax in panels[1:]] == [CLASSES[y[i]] for i in top]
    assert "unit 3" in figure._suptitle.get_text()


def test_grid_figure_draws_the_first_units_and_rejects_a_wrong_shape() -> None:
    W, *_ = _network(units=10)
    figure = mlp_units.grid_figure(W, units=10, columns=4, shape=SHAPE)
    assert sum(bool(ax.get_images()) for ax in figure.axes) == 10
    with pytest.raises(ValueError, match=r"\(20, units\)"):
        mlp_units.grid_figure(W[:5], shape=SHAPE)


def test_headless_show_displays_the_static_grid(monkeypatch: pytest.MonkeyPatch, displayed: list[Any]) -> None:
    monkeypatch.setenv("HANDGRAD_HEADLESS", "1")
    W, b, X, y = _network()
    assert mlp_units.show(W, b, X, y, CLASSES, shape=SHAPE) is None
    assert len(displayed) == 1 and type(displayed[0]).__name__ == "Image"


def test_live_show_redraws_when_the_slider_moves(monkeypatch: pytest.MonkeyPatch, displayed: list[Any]) -> None:
    monkeypatch.setenv("HANDGRAD_HEADLESS", "0")
    W, b, X, y = _network()
    widget = mlp_units.show(W, b, X, y, CLASSES, shape=SHAPE)
    slider = widget.children[0]
    slider.value = 5
    first = next(ax for ax in widget.result.axes if ax.get_images())
    np.testing.assert_array_equal(first.get_images()[0].get_array(), W[:, 5].reshape(SHAPE))
    assert widget.result._suptitle.get_text().startswith("First-layer unit 5")
