"""The BatchNorm activation-histogram demo: activations, the static figure, headless and live display."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from handgrad import blocks
from handgrad.demos import bn_histograms

X = np.random.default_rng(0).normal(size=(64, 12))


def test_activations_have_one_entry_per_layer_in_the_sigmoid_range() -> None:
    acts = bn_histograms.layer_activations(X, depth=4, weight_scale=1.0, width=16)
    assert [a.shape for a in acts] == [(64, 16)] * 4
    assert all(((a > 0) & (a < 1)).all() for a in acts)


def test_batchnorm_makes_the_distribution_independent_of_the_weight_scale() -> None:
    stds = [bn_histograms.layer_activations(X, 5, scale, 32, blocks.BatchNorm)[-1].std() for scale in (0.1, 1.0, 10.0)]
    assert np.ptp(stds) < 1e-3
    plain_small = bn_histograms.layer_activations(X, 5, 0.1, 32)[-1]
    plain_large = bn_histograms.layer_activations(X, 5, 10.0, 32)[-1]
    assert plain_small.std() < 0.05
    assert plain_large.std() > 0.3
    assert bn_histograms.saturation(plain_large) > 0.2 > bn_histograms.saturation(plain_small)


def test_same_weights_with_and_without_batchnorm_and_reproducible() -> None:
    first = bn_histograms.layer_activations(X, 2, 1.0, 8, seed=3)
    again = bn_histograms.layer_activations(X, 2, 1.0, 8, seed=3)
    np.testing.assert_array_equal(first[-1], again[-1])


@pytest.mark.parametrize(("depth", "scale"), [(0, 1.0), (3, 0.0)])
def test_bad_arguments_are_refused(depth: int, scale: float) -> None:
    with pytest.raises(ValueError, match="depth|weight_scale"):
        bn_histograms.layer_activations(X, depth, scale)


def test_static_figure_has_two_rows_of_labelled_histograms() -> None:
    figure = bn_histograms.static_figure(X, depth=7, weight_scale=2.0, width=16)
    assert isinstance(figure, Figure)
    axes = figure.get_axes()
    assert len(axes) == 2 * len(bn_histograms.shown_layers(7))
    assert bn_histograms.shown_layers(7) == [1, 2, 4, 6, 7]
    assert all(ax.get_title().startswith("layer ") for ax in axes)
    assert "without BatchNorm" in axes[0].get_ylabel() and "with BatchNorm" in axes[len(axes) // 2].get_ylabel()
    assert "7-layer network" in figure.get_suptitle()


def _capture(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    shown: list[Any] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *objects, **kw: shown.extend(objects))
    return shown


def test_headless_show_displays_one_static_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDGRAD_HEADLESS", "1")
    shown = _capture(monkeypatch)
    assert bn_histograms.show(X, depth=3, width=8) is None
    assert len(shown) == 1 and shown[0].format == "png" and shown[0].data[:4] == b"\x89PNG"


def test_live_show_returns_sliders_whose_change_redraws(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("HANDGRAD_HEADLESS", "0")
    shown = _capture(monkeypatch)
    widget = bn_histograms.show(X, depth=3, weight_scale=1.0, width=8)
    sliders = {child.description: child for child in widget.children if hasattr(child, "description")}
    assert {"depth", "weight scale"} <= set(sliders)
    images_before = sum(getattr(obj, "format", None) == "png" for obj in shown)
    sliders["depth"].value = 5
    images_after = sum(getattr(obj, "format", None) == "png" for obj in shown)
    assert images_after == images_before + 1


def test_as_image_gives_a_png_that_every_frontend_shows() -> None:
    image = bn_histograms.as_image(bn_histograms.static_figure(X, depth=2, width=8))
    assert image.format == "png" and image.data[:4] == b"\x89PNG"
