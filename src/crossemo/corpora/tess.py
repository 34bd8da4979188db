"""TESS (Toronto Emotional Speech Set), English, two female speakers.

Files are ``<OAF|YAF>_<word>_<emotion>.wav`` in per-emotion folders.  In
circulating copies some prefixes are misspelt (``OA_bite_neutral.wav``): a
prefix starting with ``O`` is the older speaker OAF, with ``Y`` the younger
YAF.  Some files are AIFF-C behind a ``.wav`` name; durations come from the
header, whatever its format.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "tess"
LANGUAGE = "en"
TITLE = "TESS"
LAYOUT = (
    "<OAF|YAF>_<emotion>/<OAF|YAF>_<word>_<angry|disgust|fear|happy|neutral|ps|sad>.wav,"
    " e.g. OAF_angry/OAF_back_angry.wav"
)
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "angry": ("angry", "angry"),
    "disgust": ("disgust", None),
    "fear": ("fear", None),
    "happy": ("happy", "happy"),
    "neutral": ("neutral", "neutral"),
    "ps": ("pleasant_surprise", None),
    "sad": ("sad", "sad"),
}
"""Emotion word at the end of the name -> (emotion, four-class label)."""

SPEAKERS = {"O": "OAF", "Y": "YAF"}
"""First letter of the name prefix -> speaker (older / younger adult female)."""


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from a TESS file name."""
    parts = relative.stem.split("_")
    if len(parts) < 3 or not parts[0] or not all(parts):
        return None
    prefix, emotion_word = parts[0], parts[-1].lower()
    if emotion_word not in EMOTIONS:
        return None
    speaker = SPEAKERS.get(prefix[0].upper())
    if speaker is None:
        return f"speaker prefix {prefix!r} is neither OAF nor YAF"
    emotion, label = EMOTIONS[emotion_word]
    return Utterance(speaker, "female", emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a TESS folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(
        path,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=parse,
    )
