"""Figures of studies over several corpora: the cross-corpus matrix and leave-one-corpus-out.

Both read the result records' training set (``train``: its corpora joined by ``+``):

- :func:`cross_corpus_matrix_figure`: each corpus trained alone (rows) and evaluated
  on each corpus (columns; the diagonal is within-corpus), per method and
  condition, with the mean of each row and column over the other corpora (the
  cross-database table Nkululeko users summarise so);
- :func:`loco_figure`: per held-out corpus, the accuracy of the model trained on all
  the other corpora beside the single-source accuracy (the mean, and the best,
  over the models trained on one other corpus alone).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from crossemo.config import CELL_SEPARATOR
from crossemo.report.canvas import FigureResult, letter, new_figure, panel_grid
from crossemo.report.run import RunData
from crossemo.report.style import condition_name, condition_rank, is_number, method_colour, method_label, method_rank

MATRIX_STEM = "cross_corpus_matrix"
LOCO_STEM = "leave_one_corpus_out"


def _accuracy(record: dict) -> float | None:
    value = (record.get("balanced_accuracy") or {}).get("mean")
    return 100.0 * value if is_number(value) else None


def _design(run: RunData) -> str:
    return str((run.config.get("protocol") or {}).get("design") or "transfer")


def _single_sources(run: RunData) -> list[str]:
    """Corpora trained alone, in the order the results list them."""
    names = [record.get("train", "") for record in run.results]
    return [name for name in dict.fromkeys(names) if name and CELL_SEPARATOR not in name]


def matrix_values(run: RunData, method: str, condition: str, classes: int) -> tuple[list[str], np.ndarray]:
    """Corpora and the (n + 1) x (n + 1) matrix of accuracies (%) for one method and condition.

    Row i, column j: trained on corpus i alone, evaluated on corpus j (the diagonal:
    within corpus i).  The last row and column are the means over the other corpora
    (off the diagonal); their corner is the mean of every off-diagonal cell.  Missing
    cells are NaN.
    """
    corpora = _single_sources(run)
    index = {name: position for position, name in enumerate(corpora)}
    values = np.full((len(corpora) + 1, len(corpora) + 1), np.nan)
    for record in run.results:
        train, corpus = record.get("train", ""), record["corpus"]
        if record["method"] != method or int(record["classes"]) != classes or train not in index:
            continue
        if corpus not in index:
            continue
        wanted = "within" if corpus == train else condition
        if record["condition"] == wanted:
            accuracy = _accuracy(record)
            if accuracy is not None:
                values[index[train], index[corpus]] = accuracy
    off_diagonal = values[:-1, :-1].copy()
    np.fill_diagonal(off_diagonal, np.nan)
    with warnings.catch_warnings():  # a row or column without values stays NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        values[:-1, -1] = np.nanmean(off_diagonal, axis=1)
        values[-1, :-1] = np.nanmean(off_diagonal, axis=0)
        values[-1, -1] = np.nanmean(off_diagonal)
    return corpora, values


def cross_corpus_matrix_figure(run: RunData) -> list[FigureResult]:
    """Heatmaps of the cross-corpus matrix, one panel per method and transfer condition."""
    title = "Cross-corpus matrix"
    caption = (
        "Balanced accuracy (%) of each corpus' model trained alone (rows) on each corpus (columns; the "
        "diagonal is within-corpus, held-out folds), with the mean over the other corpora of each row "
        "(how well a corpus' model carries) and column (how well a corpus is reached). One panel per "
        "method and condition."
    )
    corpora = _single_sources(run)
    if len(corpora) < 2:
        return [FigureResult(MATRIX_STEM, title, caption,
                             skipped="fewer than two corpora were trained alone (design = 'matrix' or 'loco')")]
    results = []
    counts = sorted({int(r["classes"]) for r in run.results if r.get("train") in corpora}, reverse=True)
    for classes in counts:
        stem = MATRIX_STEM if len(counts) == 1 else f"{MATRIX_STEM}_{classes}c"
        records = [r for r in run.results if r.get("train") in corpora and int(r["classes"]) == classes]
        methods = sorted({r["method"] for r in records}, key=method_rank)
        conditions = sorted({r["condition"] for r in records if r["condition"] != "within"}, key=condition_rank)
        panels = [(method, condition) for condition in conditions for method in methods]
        if not panels:
            results.append(FigureResult(stem, title, caption, skipped="no cross-corpus results"))
            continue
        size = 0.55 * (len(corpora) + 1) + 1.4
        columns = min(len(methods), max(1, int(14 // size)))
        figure = new_figure(size * columns, (size + 0.3) * math.ceil(len(panels) / columns) + 0.4)
        axes = panel_grid(figure, len(panels), columns)
        for position, (ax, (method, condition)) in enumerate(zip(axes, panels)):
            names, values = matrix_values(run, method, condition, classes)
            _draw_matrix(ax, names, values)
            ax.set_title(f"{letter(position)} {method_label(method)}, {condition_name(condition)}")
        results.append(FigureResult(stem, f"{title} ({classes} classes)" if len(counts) > 1 else title,
                                    caption, figure))
    return results


def _draw_matrix(ax, names: list[str], values: np.ndarray) -> None:
    ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0.0, vmax=100.0)
    for (row, column), value in np.ndenumerate(values):
        if np.isfinite(value):
            colour = "white" if value < 55 else "black"
            weight = "bold" if row == len(names) or column == len(names) else "normal"
            ax.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=7, color=colour,
                    fontweight=weight)
    labels = [*names, "mean"]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.axhline(len(names) - 0.5, color="white", linewidth=2)
    ax.axvline(len(names) - 0.5, color="white", linewidth=2)
    ax.set_xlabel("evaluated on")
    ax.set_ylabel("trained on")
    ax.spines[:].set_visible(False)


def loco_values(run: RunData, method: str, condition: str, classes: int) -> dict[str, dict[str, float | None]]:
    """Per held-out corpus: leave-one-out accuracy (%) and the mean and best single-source accuracy."""
    singles = set(_single_sources(run))
    values: dict[str, dict[str, float | None]] = {}
    for record in run.results:
        if record["method"] != method or int(record["classes"]) != classes or record["condition"] != condition:
            continue
        train = record.get("train", "")
        if CELL_SEPARATOR in train and record["corpus"] not in train.split(CELL_SEPARATOR):
            values.setdefault(record["corpus"], {})["loco"] = _accuracy(record)
    for corpus, entry in values.items():
        single = [_accuracy(r) for r in run.results
                  if r["method"] == method and int(r["classes"]) == classes and r["condition"] == condition
                  and r["corpus"] == corpus and r.get("train") in singles and r.get("train") != corpus]
        single = [value for value in single if value is not None]
        entry["single_mean"] = float(np.mean(single)) if single else None
        entry["single_best"] = float(np.max(single)) if single else None
    return values


def loco_figure(run: RunData) -> list[FigureResult]:
    """Leave-one-corpus-out accuracy per held-out corpus, the single-source accuracy beside it."""
    title = "Leave one corpus out"
    caption = (
        "Balanced accuracy (%) on each held-out corpus of the model trained on all the other corpora "
        "(solid bars) and of the models trained on one other corpus alone (hatched bars: their mean; "
        "dots: the best of them), per method; one panel per condition. Dashed: chance."
    )
    if _design(run) != "loco":
        return [FigureResult(LOCO_STEM, title, caption, skipped="the study's design is not 'loco'")]
    pooled = [r for r in run.results if CELL_SEPARATOR in r.get("train", "") and r["condition"] != "within"]
    if not pooled:
        return [FigureResult(LOCO_STEM, title, caption, skipped="no leave-one-corpus-out results")]
    classes = max(int(r["classes"]) for r in pooled)
    methods = sorted({r["method"] for r in pooled}, key=method_rank)
    conditions = sorted({r["condition"] for r in pooled}, key=condition_rank)
    held_out = list(dict.fromkeys(r["corpus"] for r in pooled if int(r["classes"]) == classes))
    width = 0.8 / (2 * len(methods))
    panel_width = min(max(4.0, 0.8 + len(held_out) * len(methods) * 0.45), 12.0)
    figure = new_figure(panel_width, 3.0 * len(conditions) + 0.5)
    axes = panel_grid(figure, len(conditions), 1, sharey=True)
    for position, (ax, condition) in enumerate(zip(axes, conditions)):
        for order, method in enumerate(methods):
            values = loco_values(run, method, condition, classes)
            for index, corpus in enumerate(held_out):
                entry = values.get(corpus, {})
                x = index - 0.4 + width * (2 * order + 0.5)
                if entry.get("loco") is not None:
                    ax.bar(x, entry["loco"], width, color=method_colour(method))
                if entry.get("single_mean") is not None:
                    ax.bar(x + width, entry["single_mean"], width, color=method_colour(method), alpha=0.45,
                           hatch="///", edgecolor="white", linewidth=0)
                    ax.scatter([x + width], [entry["single_best"]], s=9, color="#222222", zorder=3)
        ax.axhline(100.0 / classes, color="#444444", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(held_out)), held_out)
        ax.set_ylim(0, 100)
        ax.set_ylabel(f"balanced accuracy, % ({classes} classes)")
        ax.set_title(f"{letter(position)} {condition_name(condition)}: held-out corpus")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    handles = [Patch(color=method_colour(m), label=method_label(m)) for m in methods]
    handles += [Patch(facecolor="#999999", hatch="///", edgecolor="white", label="single source, mean"),
                Line2D([], [], linestyle="", marker="o", markersize=3, color="#222222", label="single source, best")]
    figure.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6), frameon=False)
    return [FigureResult(LOCO_STEM, title, caption, figure)]
