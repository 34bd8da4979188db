"""AESD (Acted Emotional Speech Dynamic Database, AESDD), Greek.

Files are ``<anger|disgust|fear|happiness|sadness>/<e><NN> (<actor>).wav``,
e.g. ``anger/a01 (1).wav``; some names carry a take suffix such as ``b``
(``a01 (1)b.wav``).  There is no neutral class: the corpus serves the
three-class task.  The distribution does not say which actor is which gender,
so gender is left missing.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "aesd"
LANGUAGE = "el"

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "a": ("anger", "angry"),
    "d": ("disgust", None),
    "f": ("fear", None),
    "h": ("happiness", "happy"),
    "s": ("sadness", "sad"),
}
"""Emotion letter -> (emotion, four-class label)."""

_NAME = re.compile(r"(?P<emotion>[a-z])(?P<utterance>\d+)\s*\((?P<actor>\d+)\)\s*(?P<take>[a-z]*)", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from an AESD file name; speakers are named ``Actor_N``."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    letter = match["emotion"].lower()
    if letter not in EMOTIONS:
        return f"unknown AESD emotion letter {match['emotion']!r}"
    emotion, label = EMOTIONS[letter]
    return Utterance(f"Actor_{int(match['actor'])}", None, emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an AESD folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(
        path,
        corpus=NAME,
        title="AESD",
        language=LANGUAGE,
        expected="<emotion>/<e><NN> (<actor>).wav, e.g. anger/a01 (1).wav",
        parse=parse,
    )
