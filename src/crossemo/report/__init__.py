"""Figures and the self-contained HTML report of a finished run directory.

:func:`write_report` reads ``RUN_DIR/results.json`` (and ``latents.parquet``),
writes every figure as PNG and SVG into ``RUN_DIR/figures/`` and the page
``RUN_DIR/report.html``, which embeds the figures and opens offline.
"""

from __future__ import annotations

import functools
from pathlib import Path

from crossemo.report.run import ReportError, RunData, load_run
from crossemo.study.rundir import FIGURES_DIR, REPORT_FILE

__all__ = ["FIGURES_DIR", "REPORT_FILE", "ReportError", "RunData", "load_run", "write_report"]


def write_report(run_dir: str | Path, *, cell: str | None = None, svg: bool = False, jobs: int | None = 1) -> Path:
    """Write ``run_dir/report.html`` and ``run_dir/figures/``; return the report's path.

    Raises :class:`ReportError` when ``run_dir`` holds no readable ``results.json``
    (or no training set ``cell``).  Figures whose data the run lacks (no transfer
    corpora, a 1-D latent, no latent models) are skipped with the reason shown in
    the report.  A study with several training sets draws the figures of one
    training set in detail: ``cell`` (its corpora joined by ``+``), else the first.
    ``svg`` also writes each figure as SVG (linked from the page).  A comparison of
    feature sets (:mod:`crossemo.study.comparison`) gets each set's report and the
    side-by-side page of :mod:`crossemo.report.html_features`.  ``jobs`` draws the
    figures in that many worker processes (``None``: one per core; ``1``: here).
    """
    from crossemo.fileio import write_atomic_text
    from crossemo.report.figures import render_figures
    from crossemo.report.html import build_html
    from crossemo.study.comparison import is_comparison

    if is_comparison(run_dir):
        from crossemo.report.html_features import write_comparison_report

        if cell is not None:
            raise ReportError("--cell picks a training set within one run; open a feature set's own run for it")
        return write_comparison_report(run_dir, write_run_report=functools.partial(write_report, svg=svg, jobs=jobs))
    run = load_run(run_dir)
    view = run.for_cell(cell)  # an unknown training set fails here, before any drawing
    figures = render_figures(run, run.run_dir / FIGURES_DIR, cell=view.shown_cell, svg=svg, jobs=jobs)
    path = run.run_dir / REPORT_FILE
    write_atomic_text(path, build_html(run, figures, cell=view.shown_cell))
    return path
