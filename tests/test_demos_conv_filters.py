"""Tests of handgrad.demos.conv_filters: figures exist, headless shows static figures, the slider redraws."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handgrad.demos import conv_filters


def _feature_fn(weights: np.ndarray):
    def apply(images: np.ndarray) -> torch.Tensor:
        return torch.relu(F.conv2d(torch.tensor(images), torch.tensor(weights), padding=1))
    return apply


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_filters_figure_draws_every_filter(channels: int) -> None:
    weights = np.random.default_rng(0).normal(size=(6, channels, 3, 3))
    figure = conv_filters.filters_figure(torch.tensor(weights, requires_grad=True))
    assert sum(ax.get_images() != [] for ax in figure.axes) == 6
    assert "6 filters of 3x3" in figure._suptitle.get_text()


def test_filters_figure_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(out, in, k, k\)"):
        conv_filters.filters_figure(np.zeros((3, 3)))


def test_feature_maps_figure_shows_the_input_and_the_maps() -> None:
    rng = np.random.default_rng(1)
    figure = conv_filters.feature_maps_figure(rng.normal(size=(1, 8, 8)), rng.normal(size=(5, 8, 8)))
    titles = [ax.get_title() for ax in figure.axes if ax.get_images()]
    assert titles == ["input"] + [f"map {i}" for i in range(5)]


def test_headless_show_displays_static_figures(monkeypatch: pytest.MonkeyPatch, displayed: list[Any]) -> None:
    monkeypatch.setenv("HANDGRAD_HEADLESS", "1")
    rng = np.random.default_rng(2)
    weights, images = rng.normal(size=(4, 1, 3, 3)), rng.normal(size=(3, 1, 8, 8))
    assert conv_filters.show(weights, images, _feature_fn(weights)) is None
    assert len(displayed) == 2                 # the filters and the maps of image 0
    assert all(getattr(image, "format", None) == "png" for image in displayed)


def test_live_show_returns_a_slider_whose_callback_redraws(monkeypatch: pytest.MonkeyPatch,
                                                            displayed: list[Any]) -> None:
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("HANDGRAD_HEADLESS", "0")
    rng = np.random.default_rng(3)
    weights, images = rng.normal(size=(4, 1, 3, 3)), rng.normal(size=(3, 1, 8, 8))
    widget = conv_filters.show(weights, images, _feature_fn(weights), labels=["a", "b", "c"])
    slider = widget.children[0]
    assert (slider.min, slider.max) == (0, 2)
    before = len(displayed)
    slider.value = 2                            # moving the slider draws image 2's maps
    assert len(displayed) > before


def test_explorer_maps_match_the_feature_function() -> None:
    rng = np.random.default_rng(4)
    weights, images = rng.normal(size=(4, 1, 3, 3)), rng.normal(size=(3, 1, 8, 8))
    explorer = conv_filters.Explorer(images, _feature_fn(weights))
    expected = _feature_fn(weights)(images[1:2]).numpy()[0]
    np.testing.assert_allclose(explorer.maps(1), expected)
    assert explorer.frame(1).axes
