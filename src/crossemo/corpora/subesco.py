"""SUBESCO (SUST Bangla Emotional Speech Corpus), Bangla, 20 speakers.

Files are ``<G>_<SS>_<NAME>_S_<sentence>_<EMOTION>_<take>.wav``, e.g.
``F_01_MONIKA_S_1_ANGRY_1.wav``: gender letter ``G`` (F/M), speaker number
``SS``, the speaker's first name, sentence number, emotion word and take.
The speaker is ``G`` + ``SS`` (``F01``).  Everything is read from the file
name, so any folder layout works.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "subesco"
LANGUAGE = "bn"
TITLE = "SUBESCO"
LAYOUT = "<G>_<SS>_<NAME>_S_<sentence>_<EMOTION>_<take>.wav, e.g. F_01_MONIKA_S_1_ANGRY_1.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "ANGRY": ("angry", "angry"),
    "DISGUST": ("disgust", None),
    "FEAR": ("fear", None),
    "HAPPY": ("happy", "happy"),
    "NEUTRAL": ("neutral", "neutral"),
    "SAD": ("sad", "sad"),
    "SURPRISE": ("surprise", None),
}
"""Emotion word -> (emotion, four-class label)."""

GENDERS = {"F": "female", "M": "male"}

_NAME = re.compile(
    r"(?P<gender>[FM])_(?P<number>\d{2})_(?P<name>[^_]+)_S_(?P<sentence>\d+)_(?P<emotion>[A-Z]+)_(?P<take>\d+)",
    re.IGNORECASE,
)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from a SUBESCO file name."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    word = match["emotion"].upper()
    if word not in EMOTIONS:
        return f"unknown SUBESCO emotion {match['emotion']!r} (expected one of {', '.join(EMOTIONS)})"
    gender = match["gender"].upper()
    emotion, label = EMOTIONS[word]
    return Utterance(gender + match["number"], GENDERS[gender], emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a SUBESCO folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(path, corpus=NAME, title=TITLE, language=LANGUAGE, expected=LAYOUT, parse=parse)
