"""URDU (Urdu-language speech emotion database), Urdu.

Files are ``<Angry|Happy|Neutral|Sad>/SGX_FXX_EYY.wav``, e.g.
``Angry/SM1_F10_A01.wav``: ``G`` gender (M/F), ``X`` speaker number, ``FXX``
file number, ``E`` emotion letter.  The speaker is ``SGX`` (``SM1``).
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "urdu"
LANGUAGE = "ur"
TITLE = "URDU"
LAYOUT = "<Angry|Happy|Neutral|Sad>/SGX_FXX_EYY.wav, e.g. Angry/SM1_F10_A01.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "A": ("angry", "angry"),
    "H": ("happy", "happy"),
    "N": ("neutral", "neutral"),
    "S": ("sad", "sad"),
}
"""Emotion letter -> (emotion as the corpus' folders name it, four-class label)."""

GENDERS = {"M": "male", "F": "female"}

_NAME = re.compile(r"(?P<speaker>S(?P<gender>[MF])\d+)_F\d+_(?P<emotion>[A-Z])\d+", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from an URDU file name."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    letter = match["emotion"].upper()
    if letter not in EMOTIONS:
        return f"unknown URDU emotion letter {match['emotion']!r}"
    emotion, label = EMOTIONS[letter]
    return Utterance(match["speaker"].upper(), GENDERS[match["gender"].upper()], emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an URDU folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(
        path,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=parse,
    )
