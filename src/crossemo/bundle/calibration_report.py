"""The bundle's training report on calibration: a reliability diagram (PNG) and a Markdown summary.

Both are drawn from the out-of-fold evidence of :func:`crossemo.bundle.calibration.fit_calibration`
(cross-fitted probabilities of every labelled training row), so they describe how the
probabilities behave on speakers the model did not train on.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from crossemo.bundle.calibration import CalibrationFit, reliability_table


def reliability_png(fit: CalibrationFit, *, title: str) -> bytes:
    """A reliability diagram as PNG bytes: accuracy against confidence per bin, above a histogram of rows.

    Drawn on matplotlib's Agg canvas (no ``pyplot``, no global figure registry).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = reliability_table(fit.probabilities, fit.codes, bins=int(fit.summary["bins"]))
    edges = table["edges"]
    width = edges[1] - edges[0]
    filled = table["count"] > 0
    figure = Figure(figsize=(4.6, 5.2), layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="#777777", linewidth=1, label="perfect calibration")
    top.bar(edges[:-1][filled], table["accuracy"][filled], width=width, align="edge", color="#0072B2",
            edgecolor="white", alpha=0.85, label="accuracy")
    top.plot(table["confidence"][filled], table["accuracy"][filled], "o", color="#D55E00", markersize=4,
             label="accuracy at the mean confidence")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"{title}\nECE {fit.summary['expected_calibration_error']:.3f} "
                  f"({fit.summary['folds']} speaker-independent folds)", fontsize=9)
    top.legend(loc="upper left", fontsize=7, frameon=False)
    bottom.bar(edges[:-1], table["count"], width=width, align="edge", color="#999999", edgecolor="white")
    bottom.set_xlabel("confidence (largest calibrated probability)")
    bottom.set_ylabel("rows")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def report_markdown(fit: CalibrationFit, *, method: str, classes: Sequence[str], image: str) -> str:
    """The calibration summary as Markdown: what was fitted on what, the error, the bins, the coefficients."""
    summary = fit.summary
    table = reliability_table(fit.probabilities, fit.codes, bins=int(summary["bins"]))
    refit = ("the whole pipeline refitted per fold (the method learns from labels)" if fit.refit == "pipeline"
             else "the SVC refitted per fold on the latent (the latent model never saw a label)")
    lines = [
        f"# Calibration of the {method} bundle",
        "",
        f"Probabilities `prob_<class>` are `softmax(slope * score + intercept)` of the SVC's class scores "
        f"(vector scaling), fitted on out-of-fold scores of the {summary['rows']} labelled training rows: "
        f"{summary['folds']} speaker-independent folds, {refit}.",
        "",
        f"- expected calibration error (ECE, {summary['bins']} equal-width bins): "
        f"**{summary['expected_calibration_error']:.4f}**",
        f"- log loss: {summary['log_loss']:.4f}",
        f"- accuracy of the out-of-fold scores: {summary['out_of_fold_accuracy']:.4f}",
        "",
        "The figures are cross-fitted: each fold's probabilities come from a calibration fitted on the other "
        "folds' scores. The bundle's calibration is fitted on all of them.",
        "",
        f"![reliability diagram]({image})",
        "",
        "| confidence bin | rows | mean confidence | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for low, high, count, confidence, accuracy in zip(table["edges"][:-1], table["edges"][1:], table["count"],
                                                      table["confidence"], table["accuracy"], strict=True):
        shown = ("-", "-") if count == 0 else (f"{confidence:.3f}", f"{accuracy:.3f}")
        lines.append(f"| ({low:.1f}, {high:.1f}] | {count} | {shown[0]} | {shown[1]} |")
    lines += ["", "| class | slope | intercept |", "|---|---:|---:|"]
    for label, slope, intercept in zip(classes, fit.calibration.slope, fit.calibration.intercept, strict=True):
        lines.append(f"| {label} | {slope:.4f} | {intercept:.4f} |")
    return "\n".join(lines) + "\n"


def reliability_json(fit: CalibrationFit) -> dict:
    """The reliability bins as JSON (empty bins: ``null`` confidence and accuracy)."""
    table = reliability_table(fit.probabilities, fit.codes, bins=int(fit.summary["bins"]))

    def plain(values: np.ndarray) -> list:
        return [None if not np.isfinite(value) else float(value) for value in values]

    return {"edges": table["edges"].tolist(), "count": table["count"].tolist(),
            "confidence": plain(table["confidence"]), "accuracy": plain(table["accuracy"])}
