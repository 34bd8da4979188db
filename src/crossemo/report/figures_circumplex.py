"""The latent axes against the circumplex of affect: how strongly each latent axis separates
arousal (angry and happy against sad and neutral) and valence (happy against angry and sad).

The seed paper suggests its latents follow arousal more than valence; the figure shows
the class centroids in the latent of one fit per method, the table the separations
averaged over folds and seeds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from html import escape

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from crossemo.report.canvas import FigureResult, letter, new_figure, panel_grid
from crossemo.report.figures_latent import _latent_skip, _reference_fit
from crossemo.report.run import RunData, latent_columns
from crossemo.report.style import EMOTION_MARKERS, emotion_colour, emotion_rank, method_has_latent, method_label

DIMENSIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "arousal": (frozenset({"angry", "happy"}), frozenset({"sad", "neutral"})),  # (high, low)
    "valence": (frozenset({"happy"}), frozenset({"angry", "sad"})),  # (positive, negative); neutral left out
}
"""The two circumplex dimensions as the two groups of emotions each sets apart."""

MARGIN = 0.05  # separations closer than this are too alike to say which dimension the latent follows
AXIS_SUBSCRIPTS = {"z0": "z\N{SUBSCRIPT ZERO}", "z1": "z\N{SUBSCRIPT ONE}"}


def area_under_curve(high: np.ndarray, low: np.ndarray) -> float:
    r"""Area under the ROC curve of scores ``high`` (positives) against ``low`` (negatives).

    .. math::

        \text{AUC} = \frac{1}{n_h n_l} \sum_{i, j} \Big([h_i > l_j] + \tfrac12 [h_i = l_j]\Big)

    the Mann-Whitney form, equal to :func:`sklearn.metrics.roc_auc_score` (ties count
    half); by sorting, so ``O((n_h + n_l) log n_l)``.  Both must be non-empty.

    >>> area_under_curve(np.array([2.0, 3.0]), np.array([1.0, 2.0]))
    0.875
    """
    ordered = np.sort(low)
    below = np.searchsorted(ordered, high, side="left")
    not_above = np.searchsorted(ordered, high, side="right")
    return float((below + not_above).sum() / (2.0 * high.size * low.size))


def _separation(values: np.ndarray, labels: pd.Series, high: frozenset[str], low: frozenset[str]) -> float | None:
    """|2 AUC - 1| of ``values`` for the ``high`` against the ``low`` labels; ``None`` without both groups."""
    chosen = labels.isin(high | low).to_numpy() & np.isfinite(values)
    is_high = labels[chosen].isin(high).to_numpy()
    if is_high.all() or not is_high.any():
        return None
    scores = values[chosen]
    return abs(area_under_curve(scores[is_high], scores[~is_high]) - 0.5) * 2


def axis_separation(latents: pd.DataFrame, *, method: str, classes: int, corpus_names: list[str],
                    conditions: Iterable[str] = ("within",)) -> list[dict]:
    """How strongly each latent axis of ``method`` separates arousal and valence, one record per axis.

    For one fit (fold and seed) and axis z_k, the separation of a dimension is
    ``|AUC - 0.5| * 2`` where AUC is the area under the ROC curve of z_k for the
    high against the low group (arousal: angry, happy against sad, neutral; valence:
    happy against angry, sad, neutral left out): 0 means no separation, 1 complete.
    The absolute value makes it blind to the sign of the axis, which a refit may
    flip; the records hold its mean over the fits (``fits``) whose rows have both
    groups, ``None`` when none has.  ``n`` counts the utterances pooled over the fits.
    Axes that swap between fits are not matched up: each axis is averaged as numbered.

    >>> frame = pd.DataFrame({"method": "dae", "classes": 4, "fold": 0, "seed": 0, "corpus": "a",
    ...                       "condition": "within", "label": ["neutral", "sad", "happy", "angry"],
    ...                       "z0": [0.0, 1.0, 2.0, 3.0], "z1": [1.0, 0.0, 0.0, 1.0]})
    >>> for record in axis_separation(frame, method="dae", classes=4, corpus_names=["a"]):
    ...     print(record["axis"], record["arousal"], record["valence"], record["n"])
    z0 1.0 0.0 4
    z1 0.0 0.5 4
    """
    rows = latents[
        (latents["method"] == method)
        & (latents["classes"] == classes)
        & latents["corpus"].isin(list(corpus_names))
        & latents["condition"].isin(list(conditions))
    ]
    if rows.empty:
        return []
    fits = [(fit["label"].astype(str), fit) for _, fit in rows.groupby(["fold", "seed"])]
    records = []
    for axis in latent_columns(rows):
        record: dict = {"method": method, "axis": axis}
        for dimension, (high, low) in DIMENSIONS.items():
            values = [_separation(fit[axis].to_numpy(float), labels, high, low) for labels, fit in fits]
            values = [value for value in values if value is not None]
            record[dimension] = float(np.mean(values)) if values else None
        records.append({**record, "n": len(rows), "fits": len(fits)})
    return records


def strongest_axis(records: list[dict], dimension: str) -> dict | None:
    """The record of the axis that separates ``dimension`` ("arousal" or "valence") best."""
    known = [record for record in records if record.get(dimension) is not None]
    return max(known, key=lambda record: record[dimension]) if known else None


def _within_corpora(run: RunData) -> list[str]:
    """Names the held-out latents of the training set may carry: each training corpus, and the pooled set."""
    return [*run.training_corpora, run.train_corpus]


def _latent_methods(run: RunData) -> list[str]:
    """Methods with latents in the run, in display order; those the registry says have none are left out."""
    present = set(run.latents["method"]) if run.latents is not None else set()
    return [method for method in run.methods if method in present and method_has_latent(method) is not False]


def circumplex_figure(run: RunData) -> list[FigureResult]:
    """Class centroids in the latent of one fit per method, the axes labelled with their separations."""
    k = run.primary_classes
    title = "Latent axes and the circumplex of affect"
    stem = "circumplex"
    caption = (
        f"Class centroids (mean latent position of each emotion, large outlined markers) of the held-out "
        f"{run.train_corpus} utterances (small dots, coloured by emotion) in the {k}-class task, one panel per method "
        "with a latent, one fit each (fold 0, seed 0 when present: axes are not comparable across "
        "fits). Each axis label gives how strongly that axis separates arousal (angry, happy against "
        "sad, neutral) and valence (happy against angry, sad) in the shown fit, as |2 AUC - 1|: "
        "0 no separation, 1 complete; the table of latent axes gives the means over folds and "
        "seeds. The seed paper expects arousal to dominate: high- and low-arousal emotions apart "
        "along one axis, happy and angry close together."
    )
    reason = _latent_skip(run)
    if reason:
        return [FigureResult(stem, title, caption, skipped=reason)]
    latents, corpus_names = run.latents, _within_corpora(run)
    panels = []
    for method in _latent_methods(run):
        reference = _reference_fit(latents, method, k)
        if reference is None:
            continue
        points = latents[(latents["method"] == method) & (latents["classes"] == k)
                         & (latents["fold"] == reference[0]) & (latents["seed"] == reference[1])
                         & latents["corpus"].isin(corpus_names) & (latents["condition"] == "within")]
        if not points.empty:
            records = axis_separation(points, method=method, classes=k, corpus_names=corpus_names)
            panels.append((method, points, {record["axis"]: record for record in records}))
    if not panels:
        return [FigureResult(stem, title, caption,
                             skipped=f"no method with a latent has held-out {k}-class latents of {run.train_corpus}")]

    columns = min(len(panels), 4)
    figure = new_figure(2.9 * columns, 2.9 * math.ceil(len(panels) / columns) + 0.4)
    shown_labels: set[str] = set()
    for position, (ax, (method, points, separations)) in enumerate(
            zip(panel_grid(figure, len(panels), columns), panels)):
        labels = points["label"].astype(str)
        centroids = points.groupby(labels)[["z0", "z1"]].mean()
        for label in sorted(centroids.index, key=emotion_rank):
            shown_labels.add(label)
            chosen = points[labels == label]
            ax.scatter(chosen["z0"], chosen["z1"], s=4, alpha=0.25, color=emotion_colour(label), linewidths=0,
                       rasterized=True)
            ax.scatter(*centroids.loc[label], s=80, color=emotion_colour(label),
                       marker=EMOTION_MARKERS.get(label, "o"), edgecolors="black", linewidths=0.8, zorder=3)
        ax.set_title(f"{letter(position)} {method_label(method)}")
        ax.set_xlabel(_axis_text("z0", separations.get("z0")))
        ax.set_ylabel(_axis_text("z1", separations.get("z1")))
    # A legend rather than text beside each centroid: low-arousal centroids often lie on top of each other.
    handles = [Line2D([], [], linestyle="", marker=EMOTION_MARKERS.get(label, "o"), markersize=7,
                      color=emotion_colour(label), markeredgecolor="black", label=label)
               for label in sorted(shown_labels, key=emotion_rank)]
    figure.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
    return [FigureResult(stem, title, caption, figure)]


def _axis_text(axis: str, record: dict | None) -> str:
    """An axis label such as ``z0: arousal 0.72, valence 0.10``."""
    name = AXIS_SUBSCRIPTS.get(axis, axis)
    if record is None:
        return name
    return f"{name}: arousal {_number(record['arousal'])}, valence {_number(record['valence'])}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def verdict(records: list[dict]) -> str:
    """Which dimension a latent follows, from its best arousal and best valence axis.

    >>> verdict([{"axis": "z0", "arousal": 0.71, "valence": 0.1}, {"axis": "z1", "arousal": 0.2, "valence": 0.22}])
    'arousal 0.71 (z0) vs valence 0.22 (z1): follows arousal'
    """
    arousal, valence = strongest_axis(records, "arousal"), strongest_axis(records, "valence")
    if arousal is None or valence is None:
        return "not enough classes to compare arousal and valence"
    difference = arousal["arousal"] - valence["valence"]
    if abs(difference) < MARGIN:
        conclusion = "arousal and valence about alike"
    else:
        conclusion = "follows arousal" if difference > 0 else "follows valence"
    return (f"arousal {_number(arousal['arousal'])} ({arousal['axis']}) vs "
            f"valence {_number(valence['valence'])} ({valence['axis']}): {conclusion}")


def axes_table_html(run: RunData) -> str:
    """The separations of arousal and valence per method and latent axis, with a verdict per method."""
    if run.latents is None:
        return ""
    k = run.primary_classes
    by_method = {method: axis_separation(run.latents, method=method, classes=k, corpus_names=_within_corpora(run))
                 for method in _latent_methods(run)}
    by_method = {method: records for method, records in by_method.items() if records}
    if not by_method:
        return ""
    rows = "".join(
        f"<tr><td>{escape(method_label(method))}</td><td>{escape(record['axis'])}</td>"
        f"<td class='num'>{_number(record['arousal'])}</td><td class='num'>{_number(record['valence'])}</td>"
        f"<td class='num'>{record['fits']}</td><td class='num'>{record['n']:,}</td></tr>"
        for method, records in by_method.items() for record in records
    )
    verdicts = "".join(f"<li>{escape(method_label(method))}: {escape(verdict(records))}</li>"
                       for method, records in by_method.items())
    return (
        "<h3>Latent axes: arousal and valence</h3>"
        f"<p>How strongly each latent axis separates arousal (angry, happy against sad, neutral) and valence "
        f"(happy against angry, sad) in the held-out {escape(run.train_corpus)} latents of the {k}-class task: "
        "|2 AUC - 1| of the axis, 0 no separation, 1 complete, averaged over folds and seeds (each fit "
        "on its own, as a refit may flip or swap its axes). The seed paper expects arousal to dominate.</p>"
        "<div class='scroll'><table id='table-latent-axes'><tr><th>Method</th><th>Axis</th>"
        "<th class='num'>Arousal</th><th class='num'>Valence</th><th class='num'>Fits</th>"
        f"<th class='num'>Utterances</th></tr>{rows}</table></div><ul>{verdicts}</ul>"
    )
