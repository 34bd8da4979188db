"""What every report figure is built on: the result type, the Agg canvas, panel grids.

Figures are built on the Agg canvas directly (no ``pyplot``, so no global figure
registry).  The builders live in :mod:`crossemo.report.figures_latent` and
:mod:`crossemo.report.figures_results`; :mod:`crossemo.report.figures` runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

LATENT_AXES = ("latent z\N{SUBSCRIPT ZERO} (a.u.)", "latent z\N{SUBSCRIPT ONE} (a.u.)")
"""Axis labels of the latent-space scatter plots."""


@dataclass(frozen=True)
class FigureResult:
    """One figure of the report: drawn (``figure``) or skipped (``skipped`` says why)."""

    stem: str
    title: str
    caption: str
    figure: Figure | None = None
    skipped: str | None = None


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches on its own Agg canvas, constrained layout."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def panel_grid(figure: Figure, count: int, columns: int, **subplot_options) -> list:
    """``count`` axes in a grid of ``columns``; the unused cells of the last row are hidden."""
    rows = math.ceil(count / columns)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False, **subplot_options)).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return list(axes[:count])


def letter(position: int) -> str:
    """Panel letter ``(a)``, ``(b)``, ...; ``(27)`` and on past ``z``."""
    return f"({chr(ord('a') + position)})" if position < 26 else f"({position + 1})"

