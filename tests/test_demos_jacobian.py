"""The softmax-Jacobian lecture demo: its numbers, the static frames, headless and live display."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from handgrad.demos import jacobian


def pngs(shown: list[Any]) -> int:
    """How many PNG images were displayed."""
    return sum(getattr(obj, "format", None) == "png" and obj.data[:4] == b"\x89PNG" for obj in shown)


@pytest.mark.parametrize("z", [[2.0, 1.0, 0.0, -1.0, 0.5], [0.3], [1000.0, 999.0, -1000.0]])
def test_probabilities_and_jacobian_are_softmax_and_its_derivative(z: list[float]) -> None:
    s, jac = jacobian.softmax_and_jacobian(z)
    assert s.shape == (len(z),) and jac.shape == (len(z), len(z))
    assert np.isfinite(s).all() and np.isfinite(jac).all()
    np.testing.assert_allclose(s.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(jac, np.diag(s) - np.outer(s, s), atol=1e-12)   # the closed form of notebook 01
    np.testing.assert_allclose(jac.sum(axis=0), 0.0, atol=1e-12)


def test_every_entry_fits_the_fixed_colour_scale() -> None:
    """The colour limit is fixed so frames compare; the largest possible entry, 1/4 at s_i = 1/2, fits it."""
    worst = jacobian.softmax_and_jacobian([0.0, 0.0])[1]
    assert np.abs(worst).max() == pytest.approx(0.25) and jacobian.COLOR_LIMIT >= 0.25


def test_static_figure_has_one_column_per_value_of_the_moving_logit() -> None:
    figure = jacobian.static_figure([2.0, 1.0, 0.0], index=2, values=(-1.0, 4.0))
    assert isinstance(figure, Figure)
    axes = [ax for ax in figure.get_axes() if ax.get_label() != "<colorbar>"]   # a colorbar per heatmap aside
    bars, heatmaps = axes[:2], axes[2:]
    assert len(axes) == 4 and "z_2 = 4.00" in bars[1].get_title() and "z_2 = -1.00" in bars[0].get_title()
    assert all(ax.get_title() == "J[i, j] = d p_i / d z_j" for ax in heatmaps)
    assert "z_2 moves" in figure.get_suptitle()


def test_headless_show_displays_one_static_image(monkeypatch: pytest.MonkeyPatch, displayed: list[Any]) -> None:
    monkeypatch.setenv("HANDGRAD_HEADLESS", "1")
    assert jacobian.show([1.0, 0.0, -1.0], index=1) is None
    assert len(displayed) == 1 and pngs(displayed) == 1


def test_live_show_redraws_when_the_logit_moves(monkeypatch: pytest.MonkeyPatch, displayed: list[Any]) -> None:
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv("HANDGRAD_HEADLESS", "0")
    jacobian.show([1.0, 0.0, -2.0], index=0)
    widget = next(obj for obj in displayed if hasattr(obj, "children"))
    controls = {child.description: child for child in widget.children if getattr(child, "description", "")}
    assert set(controls) >= {"move", "value"}
    before = pngs(displayed)
    controls["value"].value = 2.5
    assert pngs(displayed) == before + 1
    controls["move"].value = 2                       # another logit starts from its own value
    assert controls["value"].value == -2.0
