"""The report's figures (the paper's Figs. 2-5, confusion matrices, training curves).

Every builder takes a :class:`~crossemo.report.run.RunData` and returns
:class:`FigureResult` objects: a drawn matplotlib figure, or the reason it was
skipped (a run without transfer corpora has no overlap figure, say).  Figures are
built on the Agg canvas directly (no ``pyplot``, so no global figure registry) and
saved as PNG and SVG by :func:`render_figures`.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from crossemo.fileio import write_atomic_bytes
from crossemo.report.run import RunData, latent_columns, parse_history_key
from crossemo.report.style import (
    CORPUS_COLOURS,
    EMOTION_MARKERS,
    condition_name,
    condition_rank,
    emotion_colour,
    emotion_rank,
    is_number,
    loss_colour,
    method_colour,
    method_name,
    method_rank,
)

PNG_DPI = 120
SVG_RASTER_DPI = 150  # resolution of the rasterized scatter layers inside SVGs
KDE_MAX_POINTS = 1500  # a KDE contour does not need more points; keeps big corpora fast
KDE_GRID = 90
CONTOUR_MASSES = (0.9, 0.5)  # highest-density regions holding 90% and 50% of each cloud
MAX_CONFUSION_PANELS = 36
FIGURE_STEMS = (
    "latent_scatter",
    "balanced_accuracy",
    "bhattacharyya",
    "latent_overlap",
    "confusion",
    "training_curves",
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
_LATENT_AXES = ("latent z\N{SUBSCRIPT ZERO} (a.u.)", "latent z\N{SUBSCRIPT ONE} (a.u.)")


@dataclass(frozen=True)
class FigureResult:
    """One figure of the report: drawn (``figure``) or skipped (``skipped`` says why)."""

    stem: str
    title: str
    caption: str
    figure: Figure | None = None
    skipped: str | None = None


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


# --------------------------------------------------------------------------- rendering


def render_figures(run: RunData, figures_dir: Path) -> list[RenderedFigure]:
    """Draw every figure of ``run`` and write each as ``<stem>.png`` and ``<stem>.svg``.

    Files of figures that this run no longer produces are removed, so the folder
    always matches the report.  A figure that fails to draw is reported as
    skipped with the error, so one bad figure never costs the whole report.
    """
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    rendered: list[RenderedFigure] = []
    with matplotlib.rc_context(_RC):
        for builder in FIGURE_BUILDERS:
            try:
                rendered += [_save(result, figures_dir) for result in builder(run)]
            except Exception as error:  # noqa: BLE001 - a report after a long run beats a traceback
                name = builder.__name__.removesuffix("_figures").removesuffix("_figure")
                warnings.warn(f"report figure {name} failed: {error!r}", RuntimeWarning, stacklevel=2)
                rendered.append(RenderedFigure(name, name.replace("_", " ").capitalize(), "",
                                               skipped=f"could not be drawn ({type(error).__name__}: {error})"))
    _remove_stale(figures_dir, {item.stem for item in rendered if item.png_path is not None})
    return rendered


def _save(result: FigureResult, figures_dir: Path) -> RenderedFigure:
    if result.figure is None:
        return RenderedFigure(result.stem, result.title, result.caption, skipped=result.skipped)
    png = io.BytesIO()
    result.figure.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
    # The first save laid the figure out; keep that layout instead of solving it again.
    result.figure.set_layout_engine("none")
    svg = io.BytesIO()
    result.figure.savefig(svg, format="svg", dpi=SVG_RASTER_DPI, metadata={"Date": None})
    png_path = figures_dir / f"{result.stem}.png"
    svg_path = figures_dir / f"{result.stem}.svg"
    write_atomic_bytes(png_path, png.getvalue())
    write_atomic_bytes(svg_path, svg.getvalue())
    return RenderedFigure(
        result.stem, result.title, result.caption, png=png.getvalue(), png_path=png_path, svg_path=svg_path
    )


def _remove_stale(figures_dir: Path, kept: set[str]) -> None:
    for path in figures_dir.iterdir():
        ours = path.suffix in (".png", ".svg") and path.stem.startswith(FIGURE_STEMS)
        if ours and path.stem not in kept:
            path.unlink(missing_ok=True)


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _panel_grid(figure: Figure, count: int, columns: int, **subplot_options) -> list:
    """``count`` axes in a grid of ``columns``; the unused cells of the last row are hidden."""
    rows = math.ceil(count / columns)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False, **subplot_options)).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return list(axes[:count])


def _letter(position: int) -> str:
    return f"({chr(ord('a') + position)})" if position < 26 else f"({position + 1})"


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
                   corpus: str, conditions: Iterable[str]) -> pd.DataFrame:
    mask = (
        (latents["method"] == method)
        & (latents["classes"] == classes)
        & (latents["fold"] == fold)
        & (latents["seed"] == seed)
        & (latents["corpus"] == corpus)
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
                                corpus=run.train_corpus, conditions=("train", "within"))
        if not points.empty:
            panels.append((method, points))
    if not panels:
        return [FigureResult(stem, title, caption, skipped=f"no {k}-class latents of {run.train_corpus}")]

    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    figure = _new_figure(3.5 * columns, 3.2 * rows + 0.5)
    labels = sorted({label for _, points in panels for label in points["label"].astype(str)}, key=emotion_rank)
    for position, (ax, (method, points)) in enumerate(zip(_panel_grid(figure, len(panels), columns), panels)):
        size = float(np.clip(3000 / max(len(points), 1), 3, 14))  # small corpora get bigger dots
        for label in labels:
            chosen = points[points["label"].astype(str) == label]
            ax.scatter(chosen["z0"], chosen["z1"], s=size, alpha=0.6, linewidths=0,
                       color=emotion_colour(label), marker=EMOTION_MARKERS.get(label, "o"), rasterized=True)
        ax.set_title(f"{_letter(position)} {method_name(method)}")
        ax.set_xlabel(_LATENT_AXES[0])
        ax.set_ylabel(_LATENT_AXES[1])
    handles = [Line2D([], [], linestyle="", marker=EMOTION_MARKERS.get(label, "o"), markersize=6,
                      color=emotion_colour(label), label=label) for label in labels]
    figure.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
    return [FigureResult(stem, title, caption, figure)]


# --------------------------------------------------------------------------- Fig. 3: balanced accuracy


def _chance(record: dict) -> float:
    """Chance-level balanced accuracy (%) of a record: one over the classes present in the truth."""
    matrix = record.get("confusion") or {}
    present = [label for label, row in matrix.items()
               if isinstance(row, dict) and sum(v for v in row.values() if is_number(v)) > 0]
    count = len(present) or int(record["classes"])
    return 100.0 / count


def _bar_layout(methods: list[str]) -> tuple[float, dict[str, float]]:
    """Width of one bar and each method's offset from its group's centre."""
    width = 0.8 / max(len(methods), 1)
    offsets = {method: (position - (len(methods) - 1) / 2) * width for position, method in enumerate(methods)}
    return width, offsets


def _bar_panel_width(panels: list[tuple[str, list]], methods: list[str]) -> float:
    """Width (inches) of a bar-chart panel: room for the widest panel's groups of bars."""
    widest = max(len(groups) for _, groups in panels)
    return min(max(3.8, 0.6 + widest * (0.3 + 0.2 * len(methods))), 8.0)


def balanced_accuracy_figure(run: RunData) -> list[FigureResult]:
    """Balanced accuracy with 95% CI per corpus, method and condition (the paper's Fig. 3)."""
    title = "Balanced accuracy within and across corpora"
    stem = "balanced_accuracy"
    panels: list[tuple[str, list[tuple[str, dict[str, dict]]]]] = []
    within_groups = []
    for k in run.class_counts:
        records = run.records(condition="within", classes=k)
        if records:
            within_groups.append((f"{run.train_corpus}\n{k} classes", {r["method"]: r for r in records}))
    if within_groups:
        panels.append((f"within {run.train_corpus} (held-out folds)", within_groups))
    conditions = [c for c in ("unseen", "target_norm") if any(r["condition"] == c for r in run.results)]
    conditions += sorted({r["condition"] for r in run.results} - {"within", "unseen", "target_norm"})
    for condition in conditions:
        for k in run.class_counts:
            groups = []
            for corpus in run.transfer_corpora:
                records = run.records(condition=condition, classes=k, corpus=corpus)
                if records:
                    groups.append((corpus, {r["method"]: r for r in records}))
            if groups:
                panels.append((f"{condition_name(condition)}, {k} classes", groups))
    letters = ", ".join(f"{_letter(i)} {name}" for i, (name, _) in enumerate(panels))
    caption = (
        "Balanced accuracy (unweighted average recall) of a linear SVC on each method's "
        "embedding; bars are the mean over folds and seeds, error bars the 95% confidence "
        "interval (Student t), dashed lines chance level (one over the classes present). "
        f"Panels: {letters}. Compare the paper's Fig. 3, whose panels (a, b) show unseen "
        "transfer corpora and (c, d) transfer corpora standardised with a share of their own "
        "unlabelled data."
    )
    if not panels:
        return [FigureResult(stem, title, caption, skipped="the run has no balanced-accuracy results")]

    methods = run.methods
    width, offsets = _bar_layout(methods)
    columns = 1 if len(panels) == 1 else 2
    panel_width = _bar_panel_width(panels, methods)
    rows = math.ceil(len(panels) / columns)
    figure = _new_figure(panel_width * columns, 2.9 * rows + 0.6)
    axes = _panel_grid(figure, len(panels), columns)
    for position, (ax, (name, groups)) in enumerate(zip(axes, panels)):
        for index, (_, by_method) in enumerate(groups):
            for method, record in by_method.items():
                if method not in offsets:
                    continue
                accuracy = record["balanced_accuracy"]
                mean = accuracy.get("mean")
                if not is_number(mean):
                    continue
                low, high = (accuracy.get("ci95") or [None, None])[:2]
                error = None
                if is_number(low) and is_number(high):
                    error = [[max(100 * (mean - low), 0.0)], [max(100 * (high - mean), 0.0)]]
                ax.bar(index + offsets[method], 100 * mean, width, color=method_colour(method),
                       yerr=error, capsize=2, error_kw={"elinewidth": 0.8, "ecolor": "#222222"})
            chance = _chance(next(iter(by_method.values())))
            ax.hlines(chance, index - 0.45, index + 0.45, colors="#444444", linestyles="dashed", linewidth=1)
        ax.set_xticks(range(len(groups)), [label for label, _ in groups])
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylim(0, 100)
        ax.set_ylabel("balanced accuracy (%)")
        ax.set_title(f"{_letter(position)} {name}")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    handles = [Patch(color=method_colour(m), label=method_name(m)) for m in methods]
    handles.append(Line2D([], [], color="#444444", linestyle="dashed", label="chance level"))
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 7), frameon=False)
    return [FigureResult(stem, title, caption, figure)]


# --------------------------------------------------------------------------- Fig. 4: Bhattacharyya


def bhattacharyya_figure(run: RunData) -> list[FigureResult]:
    """Mean log Bhattacharyya distance per method and transfer corpus (the paper's Fig. 4)."""
    title = "Consistency of the latent distribution across corpora"
    stem = "bhattacharyya"
    caption = (
        "Mean over folds of the logarithm of the Bhattacharyya distance between the KDE of "
        f"the {run.train_corpus} training latent and the KDE of each transfer corpus' latent "
        "(dots: single folds), one panel per condition. Lower means the transfer corpus "
        "lands where the training corpus lies. Compare the paper's Fig. 4. The SVC on the "
        "88 features has no latent and so no distance."
    )
    with_distance = [r for r in run.results if isinstance(r.get("log_bhattacharyya"), dict)
                     and is_number(r["log_bhattacharyya"].get("mean"))]
    if not with_distance:
        reason = ("the run has no transfer corpora: the distance compares the training latent with "
                  "transfer corpora's") if not run.transfer_corpora else "no log Bhattacharyya distances in results"
        return [FigureResult(stem, title, caption, skipped=reason)]
    methods = sorted({r["method"] for r in with_distance}, key=method_rank)
    conditions = sorted({r["condition"] for r in with_distance}, key=condition_rank)
    several_sets = len({int(r["classes"]) for r in with_distance}) > 1
    panels = []
    for condition in conditions:
        groups = []
        for k in run.class_counts:
            for corpus in run.transfer_corpora:
                chosen = [r for r in with_distance
                          if r["condition"] == condition and int(r["classes"]) == k and r["corpus"] == corpus]
                if chosen:
                    label = f"{corpus}\n{k} classes" if several_sets else corpus
                    groups.append((label, {r["method"]: r for r in chosen}))
        panels.append((condition, groups))

    width, offsets = _bar_layout(methods)
    panel_width = _bar_panel_width(panels, methods)
    columns = len(panels) if panel_width * len(panels) <= 12 else 1
    rows = math.ceil(len(panels) / columns)
    figure = _new_figure(panel_width * columns, 2.9 * rows + 0.5)
    axes = _panel_grid(figure, len(panels), columns, sharey=True)
    for position, (ax, (condition, groups)) in enumerate(zip(axes, panels)):
        for index, (_, by_method) in enumerate(groups):
            for method, record in by_method.items():
                distance = record["log_bhattacharyya"]
                x = index + offsets[method]
                ax.bar(x, distance["mean"], width, color=method_colour(method))
                folds = [v for v in distance.get("folds") or [] if is_number(v)]
                ax.scatter([x] * len(folds), folds, s=7, color="#222222", zorder=3, linewidths=0)
        ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set_xticks(range(len(groups)), [label for label, _ in groups])
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylabel("log Bhattacharyya distance")
        ax.set_title(f"{_letter(position)} {condition_name(condition)}")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    handles = [Patch(color=method_colour(m), label=method_name(m)) for m in methods]
    handles.append(Line2D([], [], linestyle="", marker="o", markersize=3, color="#222222", label="single fold"))
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 7), frameon=False)
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
            train = _latent_points(latents, corpus=run.train_corpus, conditions=("train", "within"), **select)
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
    figure = _new_figure(3.5 * columns, 3.2 * math.ceil(len(flat) / columns) + 0.6)
    shown: dict[str, str] = {}
    for position, (ax, (k, method, clouds)) in enumerate(zip(_panel_grid(figure, len(flat), columns), flat)):
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
        ax.set_title(f"{_letter(position)} {method_name(method)}{suffix}")
        ax.set_xlabel(_LATENT_AXES[0])
        ax.set_ylabel(_LATENT_AXES[1])
    handles = [
        Line2D([], [], color=corpus_colour[name], marker="o", markersize=5,
               label=name if condition == "training" else f"{name} ({condition_name(condition)})")
        for name, condition in shown.items()
    ]
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6), frameon=False)
    return [FigureResult(stem, title, caption, figure)]


# --------------------------------------------------------------------------- confusion matrices


_SHORT = {"neutral": "neu", "sad": "sad", "happy": "hap", "angry": "ang"}


def confusion_figures(run: RunData) -> list[FigureResult]:
    """Row-normalised confusion matrices per method and evaluation, one figure per class set."""
    results = []
    several_sets = len(run.class_counts) > 1
    for k in run.class_counts:
        stem = f"confusion_{k}c" if several_sets else "confusion"
        title = f"Confusion matrices, {k} classes"
        records = [r for r in run.records(classes=k) if isinstance(r.get("confusion"), dict) and r["confusion"]]
        methods = sorted({r["method"] for r in records}, key=method_rank)
        columns = [(run.train_corpus, "within")] if any(r["condition"] == "within" for r in records) else []
        for corpus in run.transfer_corpora:
            for condition in sorted({r["condition"] for r in records if r["corpus"] == corpus},
                                    key=condition_rank):
                columns.append((corpus, condition))
        dropped = ""
        if len(methods) * len(columns) > MAX_CONFUSION_PANELS:
            # Keep the figure legible: one condition per transfer corpus, the adapted one.
            conditions_of: dict[str, list[str]] = {}
            for corpus, condition in columns:
                if condition != "within":
                    conditions_of.setdefault(corpus, []).append(condition)
            kept = [c for c in columns if c[1] == "within"]
            for corpus, conditions in conditions_of.items():
                kept.append((corpus, "target_norm" if "target_norm" in conditions else conditions[0]))
            if len(kept) < len(columns):
                dropped = (" To keep the figure legible only one condition per transfer corpus is "
                           "shown (target-normalised); the full results table has every condition.")
            columns = kept
        caption = (
            f"Confusion matrices of the linear SVC in the {k}-class task, summed over folds and "
            "seeds: one column per method, one row per evaluation (corpus and condition); cells "
            "show the share of each true class (row-normalised, %) and, below it, the count." + dropped
        )
        if not records or not columns:
            results.append(FigureResult(stem, title, caption, skipped=f"no {k}-class confusion matrices"))
            continue
        lookup = {(r["method"], r["corpus"], r["condition"]): r for r in records}
        # Methods across (at most six), evaluations down: fits the page however many corpora.
        figure = _new_figure(1.6 * len(methods) + 1.5, 1.6 * len(columns) + 0.7)
        grid = figure.subplots(len(columns), len(methods), squeeze=False)
        image = None
        for row, (corpus, condition) in enumerate(columns):
            for column, method in enumerate(methods):
                ax = grid[row][column]
                record = lookup.get((method, corpus, condition))
                if record is None:
                    ax.set_axis_off()
                    continue
                image = _draw_confusion(ax, record)
                if row == 0:
                    ax.set_title(method_name(method), fontsize=9)
                if column == 0:
                    ax.set_ylabel(f"{corpus}, {condition_name(condition)}\ntrue", fontsize=8)
                else:
                    ax.set_yticklabels([])
                if row == len(columns) - 1:
                    ax.set_xlabel("predicted", fontsize=8)
                else:
                    ax.set_xticklabels([])
        if image is not None:
            figure.colorbar(image, ax=grid, shrink=0.6, label="share of true class (%)")
        results.append(FigureResult(stem, title, caption, figure))
    if not results:
        results.append(FigureResult("confusion", "Confusion matrices", "", skipped="the run has no results"))
    return results


def _draw_confusion(ax, record: dict):
    labels = list(record.get("class_names") or sorted(record["confusion"], key=emotion_rank))
    counts = np.array([[float((record["confusion"].get(t) or {}).get(p) or 0) for p in labels] for t in labels])
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, 100 * counts / totals, np.nan)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=100)
    size = 7 if len(labels) <= 4 else 5.5
    for i in range(len(labels)):
        for j in range(len(labels)):
            if totals[i, 0] == 0:
                text, colour = "–", "#555555"
            else:
                text = f"{shares[i, j]:.0f}%\n{int(counts[i, j])}"
                colour = "white" if shares[i, j] > 55 else "#111111"
            ax.text(j, i, text, ha="center", va="center", fontsize=size, color=colour, linespacing=0.95)
    short = [_SHORT.get(label, label[:3]) for label in labels]
    ax.set_xticks(range(len(labels)), short, fontsize=7)
    ax.set_yticks(range(len(labels)), short, fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return image


# --------------------------------------------------------------------------- training curves


def _history_frames(run: RunData, k: int) -> dict[str, pd.DataFrame]:
    """Per method, the per-epoch history of seed 0 (else the smallest seed), all folds stacked."""
    parsed = [(parse_history_key(key), history) for key, history in run.histories.items()]
    parsed = [(key, history) for key, history in parsed if key is not None and key["classes"] == k and history]
    frames = {}
    for method in sorted({key["method"] for key, _ in parsed}, key=method_rank):
        mine = [(key, history) for key, history in parsed if key["method"] == method]
        seed = min(key["seed"] for key, _ in mine)
        rows = []
        for key, history in mine:
            if key["seed"] != seed:
                continue
            for entry in history:
                if isinstance(entry, dict) and is_number(entry.get("epoch")):
                    numeric = {name: value for name, value in entry.items() if is_number(value)}
                    rows.append({**numeric, "fold": key["fold"]})
        if rows:
            frames[method] = pd.DataFrame(rows)
    return frames


def training_curves_figure(run: RunData) -> list[FigureResult]:
    """Loss components per epoch (mean over folds) and the KL weight beta, per latent model."""
    k = run.primary_classes
    title = "Training curves"
    stem = "training_curves"
    caption = (
        f"Training loss components per epoch of each latent model ({k}-class task, mean over "
        "folds, seed 0), with the KL weight \N{GREEK SMALL LETTER BETA} of the annealing "
        "schedule on the right axis (grey, dashed) where the model has one. Compare the "
        "paper's Eqs. 2-5: a KL term that drops to near zero while the reconstruction stays "
        "flat is posterior collapse."
    )
    frames = _history_frames(run, k)
    if not frames:
        return [FigureResult(stem, title, caption, skipped="the run has no training histories (no latent models)")]
    found = {c for frame in frames.values() for c in frame.columns if c not in ("epoch", "beta", "fold")}
    known = [c for c in ("loss", "reconstruction", "kl", "cluster") if c in found]
    components = known + sorted(found - set(known))
    colours = {component: loss_colour(component, position) for position, component in enumerate(components)}
    columns = min(len(frames), 2)
    rows = math.ceil(len(frames) / columns)
    figure = _new_figure(4.6 * columns, 3.0 * rows + 0.5)
    has_beta = False
    for position, (ax, (method, frame)) in enumerate(zip(_panel_grid(figure, len(frames), columns), frames.items())):
        mean = frame.groupby("epoch").mean(numeric_only=True).sort_index()
        plotted = [c for c in components if c in mean.columns and mean[c].notna().any()]
        for component in plotted:
            # The total is drawn wide and pale beneath its terms, which it equals when there is one.
            total = component == "loss"
            ax.plot(mean.index, mean[component], color=colours[component], linewidth=2.8 if total else 1.4,
                    alpha=0.45 if total else 1.0, zorder=1 if total else 2,
                    marker="o" if len(mean) <= 3 else None, markersize=3)
        values = mean[plotted].to_numpy(float) if plotted else np.array([])
        values = values[np.isfinite(values)]
        if values.size and values.min() > 0 and values.max() / values.min() > 30:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (a.u.)")
        ax.set_title(f"{_letter(position)} {method_name(method)}")
        ax.grid(color="#eeeeee", linewidth=0.6)
        if "beta" in mean.columns and mean["beta"].notna().any():
            has_beta = True
            twin = ax.twinx()
            twin.spines["right"].set_visible(True)
            twin.plot(mean.index, mean["beta"], color="#777777", linestyle="dashed", linewidth=1.1)
            top = float(np.nanmax(mean["beta"].to_numpy(float)))
            twin.set_ylim(0, top * 1.15 if top > 0 else 1.0)
            twin.set_ylabel("\N{GREEK SMALL LETTER BETA} (KL weight)", color="#555555")
    handles = [Line2D([], [], color=colours[c], linewidth=2.8 if c == "loss" else 1.4,
                      alpha=0.45 if c == "loss" else 1.0, label=c) for c in components]
    if has_beta:
        handles.append(Line2D([], [], color="#777777", linestyle="dashed", label="\N{GREEK SMALL LETTER BETA}"))
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6), frameon=False)
    return [FigureResult(stem, title, caption, figure)]


FIGURE_BUILDERS: tuple[Callable[[RunData], list[FigureResult]], ...] = (
    latent_scatter_figure,
    balanced_accuracy_figure,
    bhattacharyya_figure,
    latent_overlap_figure,
    confusion_figures,
    training_curves_figure,
)
"""Figure builders in report order."""
