"""ShEMO (Sharif Emotional Speech Database), Persian.

Files are ``<female|male>/<G><SS><E><NN>.wav``, e.g. ``female/F01A01.wav``:
gender letter ``G`` (F/M), speaker number ``SS`` (counted per gender), emotion
letter ``E``, utterance number ``NN``.  The speaker is ``G`` + ``SS`` (``F01``).
Everything is read from the file name, so any folder layout works.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "shemo"
LANGUAGE = "fa"
TITLE = "ShEMO"
LAYOUT = "<female|male>/<G><SS><E><NN>.wav, e.g. female/F01A01.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "A": ("anger", "angry"),
    "H": ("happiness", "happy"),
    "N": ("neutral", "neutral"),
    "S": ("sadness", "sad"),
    "W": ("surprise", None),
    "F": ("fear", None),
}
"""Emotion letter -> (emotion, four-class label)."""

GENDERS = {"F": "female", "M": "male"}

_NAME = re.compile(r"(?P<speaker>(?P<gender>[FM])\d{2})(?P<emotion>[A-Z])(?P<utterance>\d{2,})", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from a ShEMO file name."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    letter = match["emotion"].upper()
    if letter not in EMOTIONS:
        return f"unknown ShEMO emotion letter {match['emotion']!r} (expected one of {', '.join(EMOTIONS)})"
    emotion, label = EMOTIONS[letter]
    return Utterance(match["speaker"].upper(), GENDERS[match["gender"].upper()], emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ShEMO folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(path, corpus=NAME, title=TITLE, language=LANGUAGE, expected=LAYOUT, parse=parse)
