"""The latent-space figures: the training corpus' latent (the paper's Fig. 2) and the
overlap of the corpora in it (the paper's Fig. 5).

Each shows one reference fit per method (fold 0, seed 0 when present) read from
``latents.parquet``; a run without latents, or with a one-dimensional latent, has
the figures skipped with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from crossemo.report.canvas import LATENT_AXES, FigureResult, letter, new_figure, panel_grid
from crossemo.report.run import RunData, latent_columns
from crossemo.report.style import (
    CORPUS_COLOURS,
    EMOTION_MARKERS,
    condition_name,
    emotion_colour,
    emotion_rank,
    method_label,
    method_rank,
)

KDE_MAX_POINTS = 1500  # a KDE contour does not need more points; keeps big corpora fast
KDE_GRID = 90
CONTOUR_MASSES = (0.9, 0.5)  # highest-density regions holding 90% and 50% of each cloud


# --------------------------------------------------------------------------- latent selections


def _reference_fit(latents: pd.DataFrame, method: str, classes: int) -> tuple[int, int] | None:
    """(fold, seed) of the fit a latent figure shows: fold 0 and seed 0 when present, else the smallest."""
    rows = latents[(latents["method"] == method) & (latents["classes"] == classes)]
    if rows.empty:
        return None
    seeds = sorted(rows["seed"].unique())
    seed = 0 if 0 in seeds else seeds[0]
    folds = sorted(rows.loc[rows["seed"] == seed, "fold"].unique())
    return (0 if 0 in folds else folds[0], seed)


def _latent_points(latents: pd.DataFrame, *, method: str, classes: int, fold: int, seed: int,
                   corpus: str | list[str], conditions: Iterable[str]) -> pd.DataFrame:
    mask = (
        (latents["method"] == method)
        & (latents["classes"] == classes)
        & (latents["fold"] == fold)
        & (latents["seed"] == seed)
        & (latents["corpus"].isin([corpus] if isinstance(corpus, str) else corpus))
        & (latents["condition"].isin(list(conditions)))
    )
    return latents.loc[mask]


def _latent_skip(run: RunData) -> str | None:
    """Why no latent-space figure can be drawn, or ``None`` when they can."""
    if run.latents is None:
        return "; ".join(run.notes) or "this run has no latents"
    if len(latent_columns(run.latents)) < 2:
        return "the latent space is one-dimensional (latent_dim = 1); a scatter plot needs two dimensions"
    return None


def _latent_methods(run: RunData) -> list[str]:
    return sorted(run.latents["method"].unique(), key=method_rank) if run.latents is not None else []


# --------------------------------------------------------------------------- Fig. 2: latent scatter


def latent_scatter_figure(run: RunData) -> list[FigureResult]:
    """Training corpus latents per method, coloured by emotion (the paper's Fig. 2)."""
    k = run.primary_classes
    title = "Latent space of the training corpus"
    caption = (
        f"Latent embedding (first two dimensions) of every {run.train_corpus} utterance in the "
        f"{k}-class task, one panel per method: the training folds and the held-out fold of "
        "fold 0, seed 0, coloured by emotion. Compare the paper's Fig. 2; well separated "
        "emotions mean a discriminative latent, a single blob hints at posterior collapse."
    )
    stem = "latent_scatter"
    reason = _latent_skip(run)
    if reason:
        return [FigureResult(stem, title, caption, skipped=reason)]
    latents = run.latents
    panels = []
    for method in _latent_methods(run):
        reference = _reference_fit(latents, method, k)
        if reference is None:
            continue
        points = _latent_points(latents, method=method, classes=k, fold=reference[0], seed=reference[1],
                                corpus=[run.train_corpus, *run.training_corpora], conditions=("train", "within"))
        if not points.empty:
            panels.append((method, points))
    if not panels:
        return [FigureResult(stem, title, caption, skipped=f"no {k}-class latents of {run.train_corpus}")]

    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    figure = new_figure(3.5 * columns, 3.2 * rows + 0.5)
    labels = sorted({label for _, points in panels for label in points["label"].astype(str)}, key=emotion_rank)
    for position, (ax, (method, points)) in enumerate(zip(panel_grid(figure, len(panels), columns), panels)):
        size = float(np.clip(3000 / max(len(points), 1), 3, 14))  # small corpora get bigger dots
        for label in labels:
            chosen = points[points["label"].astype(str) == label]
            ax.scatter(chosen["z0"], chosen["z1"], s=size, alpha=0.6, linewidths=0,
                       color=emotion_colour(label), marker=EMOTION_MARKERS.get(label, "o"), rasterized=True)
        ax.set_title(f"{letter(position)} {method_label(method)}")
        ax.set_xlabel(LATENT_AXES[0])
        ax.set_ylabel(LATENT_AXES[1])
    handles = [Line2D([], [], linestyle="", marker=EMOTION_MARKERS.get(label, "o"), markersize=6,
                      color=emotion_colour(label), label=label) for label in labels]
    figure.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
    return [FigureResult(stem, title, caption, figure)]


# --------------------------------------------------------------------------- Fig. 5: overlap


def _robust_bounds(values: np.ndarray) -> tuple[float, float]:
    """Axis limits covering the central 98% of ``values``, padded; never zero-width."""
    low, high = np.percentile(values, [1.0, 99.0])
    span = high - low
    if not span > 1e-9:
        centre = (low + high) / 2
        return centre - 1.0, centre + 1.0
    return low - 0.15 * span, high + 0.15 * span


def _kde_density(points: np.ndarray, grid: np.ndarray) -> np.ndarray | None:
    """Gaussian KDE of 2-D ``points`` on ``grid`` (2 x m); ``None`` for clouds too degenerate to fit."""
    from scipy.stats import gaussian_kde

    points = points[np.all(np.isfinite(points), axis=1)]
    if len(points) < 5:
        return None
    if len(points) > KDE_MAX_POINTS:
        points = points[np.random.default_rng(0).choice(len(points), KDE_MAX_POINTS, replace=False)]
    try:
        density = gaussian_kde(points.T)(grid)
    except (np.linalg.LinAlgError, ValueError):
        return None  # singular covariance: a collapsed cloud or points on a line
    if not np.all(np.isfinite(density)) or not density.max() > 0:
        return None
    return density


def hdr_levels(density: np.ndarray, masses: Iterable[float] = CONTOUR_MASSES) -> list[float]:
    """Density thresholds whose superlevel sets hold each share of ``masses`` of the total.

    Sorting the grid densities in decreasing order, the level for mass ``m`` is
    the density at which the running sum first reaches ``m`` times the total.
    Returned in increasing order, without duplicates or levels at the maximum
    (a contour there would be empty).

    >>> hdr_levels(np.array([4.0, 3.0, 2.0, 1.0]), masses=(0.9, 0.5))
    [2.0, 3.0]
    """
    flat = np.sort(np.asarray(density, dtype=float).ravel())[::-1]
    cumulative = np.cumsum(flat)
    if flat.size == 0 or not cumulative[-1] > 0:
        return []
    levels = set()
    for mass in masses:
        index = min(int(np.searchsorted(cumulative, mass * cumulative[-1])), flat.size - 1)
        if 0 < flat[index] < flat[0]:
            levels.add(float(flat[index]))
    return sorted(levels)


def latent_overlap_figure(run: RunData) -> list[FigureResult]:
    """Latent clouds of every corpus per method with KDE contours (the paper's Fig. 5)."""
    title = "Overlap of the corpora in the latent space"
    stem = "latent_overlap"
    caption = (
        f"Latent embedding of {run.train_corpus} (training and held-out folds) and of each "
        "transfer corpus (target-normalised when that condition was run, else unseen), "
        "fold 0, seed 0, one panel per method and class set. Lines are Gaussian KDE "
        "contours enclosing 50% (solid) and 90% (dashed) of each corpus; clouds too "
        "degenerate for a KDE (e.g. a collapsed VAE) have none. Axes span the central "
        "98% of the points, so a few outliers may lie outside. Compare the paper's Fig. 5: overlapping clouds mean a "
        "latent distribution consistent across corpora and languages."
    )
    reason = _latent_skip(run)
    if reason:
        return [FigureResult(stem, title, caption, skipped=reason)]
    if not run.transfer_corpora:
        return [FigureResult(stem, title, caption, skipped="the run has no transfer corpora to overlay")]
    latents = run.latents
    corpus_colour = {name: CORPUS_COLOURS[i % len(CORPUS_COLOURS)]
                     for i, name in enumerate([run.train_corpus, *run.transfer_corpora])}
    rows: list[tuple[int, list[tuple[str, list[tuple[str, str, np.ndarray]]]]]] = []
    for k in run.class_counts:
        panels = []
        for method in _latent_methods(run):
            reference = _reference_fit(latents, method, k)
            if reference is None:
                continue
            fold, seed = reference
            select = dict(method=method, classes=k, fold=fold, seed=seed)
            clouds = []
            train = _latent_points(latents, corpus=[run.train_corpus, *run.training_corpora],
                                   conditions=("train", "within"), **select)
            if not train.empty:
                clouds.append((run.train_corpus, "training", train[["z0", "z1"]].to_numpy(float)))
            for corpus in run.transfer_corpora:
                for condition in ("target_norm", "unseen"):
                    points = _latent_points(latents, corpus=corpus, conditions=(condition,), **select)
                    if not points.empty:
                        clouds.append((corpus, condition, points[["z0", "z1"]].to_numpy(float)))
                        break
            if len(clouds) > 1:
                panels.append((method, clouds))
        if panels:
            rows.append((k, panels))
    if not rows:
        return [FigureResult(stem, title, caption, skipped="no transfer-corpus latents in latents.parquet")]

    flat = [(k, method, clouds) for k, panels in rows for method, clouds in panels]
    columns = min(len(flat), 3)
    figure = new_figure(3.5 * columns, 3.2 * math.ceil(len(flat) / columns) + 0.6)
    shown: dict[str, str] = {}
    for position, (ax, (k, method, clouds)) in enumerate(zip(panel_grid(figure, len(flat), columns), flat)):
        everything = np.vstack([points for _, _, points in clouds])
        everything = everything[np.all(np.isfinite(everything), axis=1)]
        x_bounds, y_bounds = _robust_bounds(everything[:, 0]), _robust_bounds(everything[:, 1])
        xx, yy = np.meshgrid(np.linspace(*x_bounds, KDE_GRID), np.linspace(*y_bounds, KDE_GRID))
        grid_points = np.vstack([xx.ravel(), yy.ravel()])
        for corpus, condition, points in clouds:
            colour = corpus_colour[corpus]
            ax.scatter(points[:, 0], points[:, 1], s=5, alpha=0.2, color=colour, linewidths=0, rasterized=True)
            shown.setdefault(corpus, condition)
            density = _kde_density(points, grid_points)
            if density is None:
                continue
            density = density.reshape(xx.shape)
            levels = hdr_levels(density)
            styles = ("dashed", "solid") if len(levels) == 2 else ("solid",)
            for level, style in zip(levels, styles):
                ax.contour(xx, yy, density, levels=[level], colors=[colour], linestyles=style,
                           linewidths=1.5 if style == "solid" else 0.9)
        ax.set_xlim(*x_bounds)
        ax.set_ylim(*y_bounds)
        suffix = f", {k} classes" if len(rows) > 1 else ""
        ax.set_title(f"{letter(position)} {method_label(method)}{suffix}")
        ax.set_xlabel(LATENT_AXES[0])
        ax.set_ylabel(LATENT_AXES[1])
    handles = [
        Line2D([], [], color=corpus_colour[name], marker="o", markersize=5,
               label=name if condition == "training" else f"{name} ({condition_name(condition)})")
        for name, condition in shown.items()
    ]
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6), frameon=False)
    return [FigureResult(stem, title, caption, figure)]
