"""The results figures: balanced accuracy (the paper's Fig. 3), the log Bhattacharyya
distance (Fig. 4), confusion matrices and training curves.

They read ``results.json`` only (through :class:`~crossemo.report.run.RunData`);
method labels and colours come from the registry, and what a training curve shows
(loss terms, the KL weight beta) from the history's own columns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from crossemo.report.canvas import FigureResult, letter, new_figure, panel_grid
from crossemo.report.run import RunData
from crossemo.report.style import (
    condition_name,
    condition_rank,
    emotion_rank,
    is_number,
    loss_colour,
    method_colour,
    method_has_latent,
    method_label,
    method_rank,
)

MAX_CONFUSION_PANELS = 36


# --------------------------------------------------------------------------- Fig. 3: balanced accuracy


def _chance(record: dict) -> float:
    """Chance-level balanced accuracy (%) of a record: one over the classes present in the truth."""
    matrix = record.get("confusion") or {}
    present = [label for label, row in matrix.items()
               if isinstance(row, dict) and sum(v for v in row.values() if is_number(v)) > 0]
    count = len(present) or int(record["classes"])
    return 100.0 / count


def _within_corpora(run: RunData) -> list[str]:
    """Corpora with within-corpus results: each training corpus, then a pooled training set's name."""
    names = {record["corpus"] for record in run.results if record["condition"] == "within"}
    return sorted(names, key=lambda name: (name == run.train_corpus, run.corpus_position(name), name))


def _legend_columns(figure, count: int) -> int:
    """Legend columns that fit the figure's width (about 1.4 inches per entry)."""
    return max(1, min(count, 7, int(figure.get_figwidth() / 1.4)))


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
        for corpus in _within_corpora(run):
            records = run.records(condition="within", classes=k, corpus=corpus)
            if records:
                within_groups.append((f"{corpus}\n{k} classes", {r["method"]: r for r in records}))
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
    letters = ", ".join(f"{letter(i)} {name}" for i, (name, _) in enumerate(panels))
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
    figure = new_figure(panel_width * columns, 2.9 * rows + 0.6)
    axes = panel_grid(figure, len(panels), columns)
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
        ax.set_title(f"{letter(position)} {name}")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    handles = [Patch(color=method_colour(m), label=method_label(m)) for m in methods]
    handles.append(Line2D([], [], color="#444444", linestyle="dashed", label="chance level"))
    figure.legend(handles=handles, loc="outside upper center", ncols=_legend_columns(figure, len(handles)),
                  frameon=False)
    return [FigureResult(stem, title, caption, figure)]


# --------------------------------------------------------------------------- Fig. 4: Bhattacharyya


def _no_latent_note(run: RunData) -> str:
    """A caption sentence naming the run's methods without a latent (none: empty)."""
    without = [method_label(method) for method in run.methods if method_has_latent(method) is False]
    if not without:
        return ""
    verb = "has" if len(without) == 1 else "have"
    return f" {', '.join(without)} {verb} no latent and so no distance."


def bhattacharyya_figure(run: RunData) -> list[FigureResult]:
    """Mean log Bhattacharyya distance per method and transfer corpus (the paper's Fig. 4)."""
    title = "Consistency of the latent distribution across corpora"
    stem = "bhattacharyya"
    caption = (
        "Mean over folds of the logarithm of the Bhattacharyya distance between the KDE of "
        f"the {run.train_corpus} training latent and the KDE of each transfer corpus' latent "
        "(dots: single folds), one panel per condition. Lower means the transfer corpus "
        "lands where the training corpus lies. Compare the paper's Fig. 4." + _no_latent_note(run)
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
    figure = new_figure(panel_width * columns, 2.9 * rows + 0.5)
    axes = panel_grid(figure, len(panels), columns, sharey=True)
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
        ax.set_title(f"{letter(position)} {condition_name(condition)}")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    handles = [Patch(color=method_colour(m), label=method_label(m)) for m in methods]
    handles.append(Line2D([], [], linestyle="", marker="o", markersize=3, color="#222222", label="single fold"))
    figure.legend(handles=handles, loc="outside upper center", ncols=_legend_columns(figure, len(handles)),
                  frameon=False)
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
        columns = [(corpus, "within") for corpus in _within_corpora(run)
                   if any(r["condition"] == "within" and r["corpus"] == corpus for r in records)]
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
        figure = new_figure(1.6 * len(methods) + 1.5, 1.6 * len(columns) + 0.7)
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
                    ax.set_title(method_label(method), fontsize=9)
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
    # The plain fits' histories (speaker_norm and target_adapt fits train models of their own).
    histories = [history for history in run.histories
                 if history["classes"] == k and history["epochs"] and not history.get("variant")]
    frames = {}
    for method in sorted({history["method"] for history in histories}, key=method_rank):
        mine = [history for history in histories if history["method"] == method]
        seed = min(history["seed"] for history in mine)
        rows = []
        for history in mine:
            if history["seed"] != seed:
                continue
            for entry in history["epochs"]:
                if isinstance(entry, dict) and is_number(entry.get("epoch")):
                    numeric = {name: value for name, value in entry.items() if is_number(value)}
                    rows.append({**numeric, "fold": history["fold"]})
        if rows:
            frames[method] = pd.DataFrame(rows)
    return frames


def _no_histories_reason(run: RunData, k: int) -> str:
    if run.schema_version < 2:
        return (f"results.json is of schema version {run.schema_version}, whose training histories the "
                "report does not read (rerun the study to record them)")
    if run.histories:
        return f"the run has no {k}-class training histories"
    return "the run has no training histories (no method trained over epochs)"


def training_curves_figure(run: RunData) -> list[FigureResult]:
    """Loss components per epoch (mean over folds) and, where recorded, the KL weight beta, per method."""
    k = run.primary_classes
    title = "Training curves"
    stem = "training_curves"
    caption = (
        f"Training loss components per epoch of each model trained over epochs ({k}-class task, "
        "mean over folds, seed 0), with the KL weight \N{GREEK SMALL LETTER BETA} on the right "
        "axis (grey, dashed) where the history records one. Compare the "
        "paper's Eqs. 2-5: a KL term that drops to near zero while the reconstruction stays "
        "flat is posterior collapse."
    )
    frames = _history_frames(run, k)
    if not frames:
        return [FigureResult(stem, title, caption, skipped=_no_histories_reason(run, k))]
    found = {c for frame in frames.values() for c in frame.columns if c not in ("epoch", "beta", "fold")}
    known = [c for c in ("loss", "reconstruction", "kl", "cluster") if c in found]
    components = known + sorted(found - set(known))
    colours = {component: loss_colour(component, position) for position, component in enumerate(components)}
    columns = min(len(frames), 2)
    rows = math.ceil(len(frames) / columns)
    figure = new_figure(4.6 * columns, 3.0 * rows + 0.5)
    has_beta = False
    for position, (ax, (method, frame)) in enumerate(zip(panel_grid(figure, len(frames), columns), frames.items())):
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
        ax.set_title(f"{letter(position)} {method_label(method)}")
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
