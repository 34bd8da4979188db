"""CaFE (Canadian French Emotional speech dataset), French.

Files are ``<Emotion>/<Intensity>/AA-E-I-S.wav`` (neutral has no intensity
folder), e.g. ``Colère/Fort/01-C-2-3.wav``: actor ``AA`` 01-06, emotion letter
``E``, intensity ``I``, sentence ``S``.  The folder names carry non-ASCII
letters and are not needed: everything is read from the file name.

Gender is an assumption stated here rather than read from data: CaFE's six
actors are three men and three women, taken to be the odd (01, 03, 05: male)
and even (02, 04, 06: female) actor numbers.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "cafe"
LANGUAGE = "fr"

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "C": ("anger", "angry"),  # colère
    "D": ("disgust", None),  # dégoût
    "J": ("happiness", "happy"),  # joie
    "N": ("neutral", "neutral"),  # neutre
    "P": ("fear", None),  # peur
    "S": ("surprise", None),
    "T": ("sadness", "sad"),  # tristesse
}
"""Emotion letter -> (emotion, four-class label)."""

_NAME = re.compile(r"(?P<actor>\d{2})-(?P<emotion>[A-Z])-(?P<intensity>\d)-(?P<sentence>\d)", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from a CaFE file name; speakers are named ``Actor_AA``."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    letter = match["emotion"].upper()
    if letter not in EMOTIONS:
        return f"unknown CaFE emotion letter {match['emotion']!r}"
    actor = int(match["actor"])
    emotion, label = EMOTIONS[letter]
    return Utterance(f"Actor_{match['actor']}", "male" if actor % 2 else "female", emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CaFE folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(
        path,
        corpus=NAME,
        title="CaFE",
        language=LANGUAGE,
        expected="<Emotion>/<Intensity>/AA-E-I-S.wav, e.g. Colère/Fort/01-C-2-3.wav",
        parse=parse,
    )
