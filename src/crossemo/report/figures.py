"""The report's figures (the paper's Figs. 2-5, confusion matrices, training curves), drawn and saved.

Every builder takes a :class:`~crossemo.report.run.RunData` and returns
:class:`~crossemo.report.canvas.FigureResult` objects: a drawn matplotlib figure, or
the reason it was skipped (a run without transfer corpora has no overlap figure,
say).  The builders live in :mod:`crossemo.report.figures_latent` (latent space)
and :mod:`crossemo.report.figures_results` (accuracy, distance, confusion, training);
:func:`render_figures` runs them in report order and saves each as PNG (and SVG on request).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

from crossemo.fileio import write_atomic_bytes
from crossemo.report.canvas import FigureResult
from crossemo.report.figures_circumplex import circumplex_figure
from crossemo.report.figures_corpora import cross_corpus_matrix_figure, loco_figure
from crossemo.report.figures_latent import hdr_levels, latent_overlap_figure, latent_scatter_figure
from crossemo.report.figures_results import (
    balanced_accuracy_figure,
    bhattacharyya_figure,
    confusion_figures,
    training_curves_figure,
)
from crossemo.report.run import RunData

__all__ = ["FIGURE_BUILDERS", "FIGURE_STEMS", "FigureResult", "RenderedFigure", "hdr_levels", "render_figures"]

PNG_DPI = 120
SVG_RASTER_DPI = 150  # resolution of the rasterized scatter layers inside SVGs
FIGURE_STEMS = (
    "latent_scatter",
    "circumplex",
    "balanced_accuracy",
    "bhattacharyya",
    "latent_overlap",
    "confusion",
    "training_curves",
    "cross_corpus_matrix",
    "leave_one_corpus_out",
)
"""File-name stems of the figures; a class-set suffix such as ``_4c`` may follow."""

_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "crossemo-report",  # stable SVG ids, so reruns give identical files
    "svg.fonttype": "path",  # SVGs render identically without the fonts installed
}


@dataclass(frozen=True)
class RenderedFigure:
    """A figure as written to disk: its PNG bytes (for embedding) and file paths."""

    stem: str
    title: str
    caption: str
    png: bytes | None = None
    png_path: Path | None = None
    svg_path: Path | None = None
    skipped: str | None = None


FIGURE_BUILDERS: tuple[Callable[[RunData], list[FigureResult]], ...] = (
    latent_scatter_figure,
    circumplex_figure,
    balanced_accuracy_figure,
    bhattacharyya_figure,
    latent_overlap_figure,
    confusion_figures,
    training_curves_figure,
)
"""Figure builders in report order, drawn for one training set."""

STUDY_BUILDERS: tuple[Callable[[RunData], list[FigureResult]], ...] = (loco_figure, cross_corpus_matrix_figure)
"""Figures over every training set of a ``loco`` or ``matrix`` study, drawn before the others."""


# --------------------------------------------------------------------------- rendering


def render_figures(run: RunData, figures_dir: Path, *, cell: str | None = None,
                   svg: bool = False) -> list[RenderedFigure]:
    """Draw every figure of ``run`` and write each as ``<stem>.png`` (and ``<stem>.svg`` with ``svg``).

    PNG is what the HTML page embeds; SVG (vector, for papers) costs about as much
    again to write, so it is written only on request.

    A study with several training sets (``loco``, ``matrix``) first gets the figures
    over all of them (:data:`STUDY_BUILDERS`); the other figures show one training
    set, ``cell`` (default: the first).  Files of figures that this run no longer
    produces are removed, so the folder always matches the report.  A figure that
    fails to draw is reported as skipped with the error, so one bad figure never
    costs the whole report.
    """
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    rendered: list[RenderedFigure] = []
    view = run.for_cell(cell)
    builders = [(builder, run) for builder in STUDY_BUILDERS] if len(run.cell_names) > 1 else []
    builders += [(builder, view) for builder in FIGURE_BUILDERS]
    with matplotlib.rc_context(_RC):
        for builder, data in builders:
            try:
                rendered += [_save(result, figures_dir, svg=svg) for result in builder(data)]
            except Exception as error:  # noqa: BLE001 - a report after a long run beats a traceback
                name = builder.__name__.removesuffix("_figures").removesuffix("_figure")
                warnings.warn(f"report figure {name} failed: {error!r}", RuntimeWarning, stacklevel=2)
                rendered.append(RenderedFigure(name, name.replace("_", " ").capitalize(), "",
                                               skipped=f"could not be drawn ({type(error).__name__}: {error})"))
    kept = {item.stem for item in rendered if item.png_path is not None}
    _remove_stale(figures_dir, {".png": kept, ".svg": kept if svg else set()})
    return rendered


def _save(result: FigureResult, figures_dir: Path, *, svg: bool) -> RenderedFigure:
    if result.figure is None:
        return RenderedFigure(result.stem, result.title, result.caption, skipped=result.skipped)
    png = io.BytesIO()
    result.figure.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
    png_path = figures_dir / f"{result.stem}.png"
    write_atomic_bytes(png_path, png.getvalue())
    svg_path = None
    if svg:
        # The first save laid the figure out; keep that layout instead of solving it again.
        result.figure.set_layout_engine("none")
        vector = io.BytesIO()
        result.figure.savefig(vector, format="svg", dpi=SVG_RASTER_DPI, metadata={"Date": None})
        svg_path = figures_dir / f"{result.stem}.svg"
        write_atomic_bytes(svg_path, vector.getvalue())
    return RenderedFigure(
        result.stem, result.title, result.caption, png=png.getvalue(), png_path=png_path, svg_path=svg_path
    )


def _remove_stale(figures_dir: Path, kept: dict[str, set[str]]) -> None:
    """Remove our figure files (by suffix) whose stem is not in ``kept[suffix]``: the folder matches the report."""
    for path in figures_dir.iterdir():
        ours = path.suffix in kept and path.stem.startswith(FIGURE_STEMS)
        if ours and path.stem not in kept[path.suffix]:
            path.unlink(missing_ok=True)
