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

_COSTLIEST_FIRST = (
    "cross_corpus_matrix_figure",
    "loco_figure",
    "confusion_figures",
    "latent_overlap_figure",
    "training_curves_figure",
    "circumplex_figure",
    "latent_scatter_figure",
)
"""Builders by their drawing time on a typical run, longest first: in parallel, the
longest start first, so no worker is left with a long figure at the end."""


@dataclass(frozen=True)
class _FigureTask:
    """One builder to run in a worker process: it reads the run from ``run_dir`` itself."""

    run_dir: Path
    cell: str | None
    over_study: bool
    builder: str
    figures_dir: Path
    svg: bool


def render_figures(run: RunData, figures_dir: Path, *, cell: str | None = None,
                   svg: bool = False, jobs: int | None = 1) -> list[RenderedFigure]:
    """Draw every figure of ``run`` and write each as ``<stem>.png`` (and ``<stem>.svg`` with ``svg``).

    PNG is what the HTML page embeds; SVG (vector, for papers) costs about as much
    again to write, so it is written only on request.

    A study with several training sets (``loco``, ``matrix``) first gets the figures
    over all of them (:data:`STUDY_BUILDERS`); the other figures show one training
    set, ``cell`` (default: the first).  Files of figures that this run no longer
    produces are removed, so the folder always matches the report.  A figure that
    fails to draw is reported as skipped with the error, so one bad figure never
    costs the whole report.

    ``jobs`` draws the figures on that many cores (``None``: all; ``1``: only in
    this process): this process and ``jobs - 1`` workers share them, each reading
    the run from ``run.run_dir`` (:func:`crossemo.execution.map_tasks` with ``share``).  Drawing
    is single-threaded Python; the files are the same byte for byte.
    """
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    builders = [(True, builder) for builder in STUDY_BUILDERS] if len(run.cell_names) > 1 else []
    builders += [(False, builder) for builder in FIGURE_BUILDERS]
    if jobs == 1:
        view = run.for_cell(cell)
        drawn = [_draw(run if over_study else view, builder, figures_dir, svg=svg)
                 for over_study, builder in builders]
    else:
        drawn = _draw_in_workers(
            [_FigureTask(run.run_dir, cell, over_study, builder.__name__, figures_dir, svg)
             for over_study, builder in builders],
            jobs=jobs,
        )
    rendered: list[RenderedFigure] = []
    for figures, error in drawn:
        if error is not None:
            warnings.warn(error, RuntimeWarning, stacklevel=2)
        rendered += figures
    kept = {item.stem for item in rendered if item.png_path is not None}
    _remove_stale(figures_dir, {".png": kept, ".svg": kept if svg else set()})
    return rendered


def _draw(data: RunData, builder: Callable[[RunData], list[FigureResult]], figures_dir: Path,
          *, svg: bool) -> tuple[list[RenderedFigure], str | None]:
    """Run one builder and save its figures; on failure one skipped entry and the warning's text."""
    try:
        with matplotlib.rc_context(_RC):
            return [_save(result, figures_dir, svg=svg) for result in builder(data)], None
    except Exception as error:  # noqa: BLE001 - a report after a long run beats a traceback
        name = builder.__name__
        return [_skipped(name, error)], f"report figure {_short_name(name)} failed: {error!r}"


def _draw_task(task: _FigureTask) -> tuple[list[RenderedFigure], str | None]:
    """:func:`_draw` in a worker process (a top-level function, so it pickles)."""
    from crossemo.report.run import load_run

    run = load_run(task.run_dir)
    builder = {b.__name__: b for b in (*STUDY_BUILDERS, *FIGURE_BUILDERS)}[task.builder]
    return _draw(run if task.over_study else run.for_cell(task.cell), builder, task.figures_dir, svg=task.svg)


def _draw_in_workers(tasks: list[_FigureTask], *, jobs: int | None) -> list[tuple[list[RenderedFigure], str | None]]:
    from crossemo.execution import TaskFailure, map_tasks

    order = sorted(range(len(tasks)), key=lambda position: _rank(tasks[position].builder))
    drawn: list[tuple[list[RenderedFigure], str | None]] = [([], None)] * len(tasks)
    ordered = [tasks[position] for position in order]
    for index, result in map_tasks(_draw_task, ordered, jobs=jobs, progress=False, share=True):
        position = order[index]
        if isinstance(result, TaskFailure):  # the worker itself failed (killed, out of memory)
            name = tasks[position].builder
            result = [_skipped(name, result)], f"report figure {_short_name(name)} failed: {result}"
        drawn[position] = result
    return drawn


def _rank(builder: str) -> int:
    return _COSTLIEST_FIRST.index(builder) if builder in _COSTLIEST_FIRST else len(_COSTLIEST_FIRST)


def _short_name(builder: str) -> str:
    return builder.removesuffix("_figures").removesuffix("_figure")


def _skipped(builder: str, error: object) -> RenderedFigure:
    name = _short_name(builder)
    reason = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return RenderedFigure(name, name.replace("_", " ").capitalize(), "", skipped=f"could not be drawn ({reason})")


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
