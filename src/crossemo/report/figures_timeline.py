"""The timeline of one long recording: its waveform envelope, the segments coloured by emotion, scores over time.

Drawn from the segment rows :func:`crossemo.bundle.segments.predict_segments` gives and
the envelope :func:`crossemo.segmentation.waveform_envelope` reads, on the Agg canvas
like every report figure, in the report's emotion colours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from crossemo.report.canvas import new_figure
from crossemo.report.style import emotion_colour, emotion_rank
from crossemo.segmentation import owned_spans

MAX_ENVELOPE_POINTS = 4000
"""Envelope bins drawn at most: longer envelopes are max-pooled down to this many."""

UNCERTAIN_COLOUR = "#FFFFFF"


def pooled_envelope(envelope: np.ndarray, bin_s: float, limit: int = MAX_ENVELOPE_POINTS) -> tuple[np.ndarray, float]:
    """``(bins, 2)`` lowest/highest samples pooled by the smallest integer factor leaving at most ``limit`` bins.

    Returns the pooled envelope (lowest of the lows, highest of the highs) and its bin length.

    >>> pooled, seconds = pooled_envelope(np.array([[-1.0, 1.0], [-3.0, 2.0], [0.0, 5.0]]), 0.1, limit=2)
    >>> pooled.tolist(), seconds
    ([[-3.0, 2.0], [0.0, 5.0]], 0.2)
    """
    values = np.asarray(envelope, dtype=np.float64).reshape(-1, 2)
    factor = max(1, int(np.ceil(len(values) / limit)))
    if factor == 1:
        return values, bin_s
    padded = np.concatenate([values, np.repeat(values[-1:], -len(values) % factor, axis=0)])
    grouped = padded.reshape(-1, factor, 2)
    return np.stack([grouped[:, :, 0].min(axis=1), grouped[:, :, 1].max(axis=1)], axis=1), bin_s * factor


def time_unit(duration_s: float) -> tuple[float, str]:
    """Divisor and axis label for a timeline of ``duration_s`` seconds: minutes beyond two minutes.

    >>> time_unit(90.0), time_unit(600.0)
    ((1.0, 'time (s)'), (60.0, 'time (min)'))
    """
    return (60.0, "time (min)") if duration_s > 120 else (1.0, "time (s)")


def timeline_figure(envelope: np.ndarray, bin_s: float, rows: pd.DataFrame, *, classes: Sequence[str],
                    title: str = "") -> Figure:
    """Two panels over time: (a) the envelope with each segment's span in its predicted emotion's colour
    (overlapping windows split their overlap: :func:`owned_spans`; uncertain ones left white),
    (b) per class the calibrated probability (or, without calibration, the score) at each segment's centre."""
    usable = rows[rows["error"].isna()].sort_values("start_s")
    envelope, bin_s = pooled_envelope(envelope, bin_s)
    duration_s = max(len(envelope) * bin_s, float(usable["end_s"].max()) if len(usable) else 0.0)
    divisor, label = time_unit(duration_s)
    ordered = sorted(classes, key=emotion_rank)

    figure = new_figure(10, 4.8)
    wave, scores = figure.subplots(2, 1, sharex=True, height_ratios=[1.2, 1])
    times = (np.arange(len(envelope)) + 0.5) * bin_s / divisor
    spans = owned_spans(list(zip(usable["start_s"].astype(float), usable["end_s"].astype(float))))
    uncertain = usable["uncertain"].fillna(False).to_numpy(dtype=bool) if "uncertain" in usable else [False] * len(spans)
    for (start_s, end_s), predicted, doubtful in zip(spans, usable["predicted"], uncertain):
        colour = UNCERTAIN_COLOUR if doubtful else emotion_colour(str(predicted))
        wave.axvspan(start_s / divisor, end_s / divisor, color=colour, alpha=0.45, linewidth=0)
    wave.fill_between(times, envelope[:, 0], envelope[:, 1], color="#333333", linewidth=0)
    wave.set_ylabel("amplitude")
    reach = 1.05 * max(float(np.abs(envelope).max(initial=0)), 1e-3)
    wave.set_ylim(-reach, reach)
    handles = [Patch(color=emotion_colour(name), alpha=0.45, label=name) for name in ordered]
    if np.any(uncertain):
        handles.append(Patch(facecolor=UNCERTAIN_COLOUR, edgecolor="#999999", label="uncertain"))
    wave.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    wave.set_title(f"(a) {title}" if title else "(a) predicted emotion per segment", loc="left", fontsize="medium")

    calibrated = all(f"prob_{name}" in usable and usable[f"prob_{name}"].notna().any() for name in ordered)
    prefix = "prob_" if calibrated else "score_"
    centres = ((usable["start_s"] + usable["end_s"]) / 2).to_numpy(dtype=float) / divisor
    for name in ordered:
        column = f"{prefix}{name}"
        if column in usable:
            scores.plot(centres, usable[column].to_numpy(dtype=float), marker=".", markersize=3, linewidth=1,
                        color=emotion_colour(name), label=name)
    scores.set_ylabel("probability" if calibrated else "class score")
    if calibrated:
        scores.set_ylim(0, 1)
    scores.set_xlabel(label)
    scores.set_xlim(0, duration_s / divisor)
    scores.set_title("(b) " + ("class probabilities" if calibrated else "class scores") + " over time",
                     loc="left", fontsize="medium")
    return figure
