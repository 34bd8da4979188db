"""Berlin Database of Emotional Speech (Emo-DB), German.

Files are named ``SSTTTEV.wav``, e.g. ``wav/03a01Wa.wav``: ``SS`` speaker,
``TTT`` text code, ``E`` the German emotion's initial, ``V`` version letter.
Only the name is read, so any folder layout works.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "emodb"
LANGUAGE = "de"
TITLE = "Emo-DB"
LAYOUT = "SSTTTEV.wav, e.g. wav/03a01Wa.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "W": ("anger", "angry"),  # Wut
    "L": ("boredom", None),  # Langeweile
    "E": ("disgust", None),  # Ekel
    "A": ("fear", None),  # Angst
    "F": ("happiness", "happy"),  # Freude
    "T": ("sadness", "sad"),  # Trauer
    "N": ("neutral", "neutral"),
}
"""Emotion letter -> (emotion, four-class label)."""

MALE_SPEAKERS = frozenset({"03", "10", "11", "12", "15"})
FEMALE_SPEAKERS = frozenset({"08", "09", "13", "14", "16"})

_NAME = re.compile(r"(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from an Emo-DB file name; speakers are named ``Speaker_SS``."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    letter = match["emotion"].upper()
    if letter not in EMOTIONS:
        return f"unknown Emo-DB emotion letter {match['emotion']!r}"
    speaker = match["speaker"]
    gender = "male" if speaker in MALE_SPEAKERS else "female" if speaker in FEMALE_SPEAKERS else None
    emotion, label = EMOTIONS[letter]
    return Utterance(f"Speaker_{speaker}", gender, emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an Emo-DB folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(
        path,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=parse,
    )
