"""Figures and the self-contained HTML report of a finished run directory.

:func:`write_report` reads ``RUN_DIR/results.json`` (and ``latents.parquet``),
writes every figure as PNG and SVG into ``RUN_DIR/figures/`` and the page
``RUN_DIR/report.html``, which embeds the figures and opens offline.
"""

from __future__ import annotations

from pathlib import Path

from crossemo.report.run import ReportError, RunData, load_run
from crossemo.study.rundir import FIGURES_DIR, REPORT_FILE

__all__ = ["FIGURES_DIR", "REPORT_FILE", "ReportError", "RunData", "load_run", "write_report"]


def write_report(run_dir: str | Path, *, cell: str | None = None) -> Path:
    """Write ``run_dir/report.html`` and ``run_dir/figures/``; return the report's path.

    Raises :class:`ReportError` when ``run_dir`` holds no readable ``results.json``
    (or no training set ``cell``).  Figures whose data the run lacks (no transfer
    corpora, a 1-D latent, no latent models) are skipped with the reason shown in
    the report.  A study with several training sets draws the figures of one
    training set in detail: ``cell`` (its corpora joined by ``+``), else the first.
    """
    from crossemo.fileio import write_atomic_text
    from crossemo.report.figures import render_figures
    from crossemo.report.html import build_html

    run = load_run(run_dir)
    view = run.for_cell(cell)  # an unknown training set fails here, before any drawing
    figures = render_figures(run, run.run_dir / FIGURES_DIR, cell=view.shown_cell)
    path = run.run_dir / REPORT_FILE
    write_atomic_text(path, build_html(run, figures, cell=view.shown_cell))
    return path
