"""What every corpus reader returns.

A reader turns a directory in its distributed layout into one table with the
columns of :data:`COLUMNS`, one row per utterance.  ``path`` is relative to the
corpus root (POSIX separators); the absolute root is kept in
``table.attrs["root"]`` and files the reader passed over, with their reason, in
``table.attrs["skipped"]`` (a list of ``{"path", "reason"}`` dicts).
"""

from __future__ import annotations

LABELS: tuple[str, ...] = ("neutral", "sad", "happy", "angry")
"""The four-class task, in the paper's order.  The three-class task drops neutral."""

COLUMNS: tuple[str, ...] = (
    "path",
    "corpus",
    "language",
    "speaker",
    "gender",
    "emotion",
    "label",
    "duration_s",
)
