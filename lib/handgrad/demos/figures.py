"""Figures for the lecture demos: drawn off-screen, displayed as PNG images."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float, dpi: int = 90) -> Figure:
    """An off-screen figure (no pyplot): nothing is shown twice, nothing leaks."""
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def png(figure: Figure) -> Any:
    """The figure as an IPython PNG image (displayed the same way by every frontend)."""
    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Image(data=buffer.getvalue(), format="png")
