"""EMOVO, Italian.

Files are ``EMOVO/<f1|f2|f3|m1|m2|m3>/<emo>-<speaker>-<sentence>.wav``, e.g.
``EMOVO/f1/gio-f1-b1.wav``: a three-letter Italian emotion code, the speaker
(its first letter is the gender) and one of 14 sentence codes (b1-b3, d1-d2,
l1-l4, n1-n5).  Everything is read from the file name, so any folder layout
works; the speaker folder is not needed.  The originals are 48 kHz stereo:
durations come from the header, and audio is mixed down to mono when read.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "emovo"
LANGUAGE = "it"
TITLE = "EMOVO"
LAYOUT = "<f1-f3|m1-m3>/<emo>-<speaker>-<sentence>.wav, e.g. EMOVO/f1/gio-f1-b1.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "dis": ("disgust", None),  # disgusto
    "gio": ("joy", "happy"),  # gioia
    "neu": ("neutral", "neutral"),  # neutro
    "pau": ("fear", None),  # paura
    "rab": ("anger", "angry"),  # rabbia
    "sor": ("surprise", None),  # sorpresa
    "tri": ("sadness", "sad"),  # tristezza
}
"""Emotion code -> (emotion, four-class label)."""

SPEAKERS = ("f1", "f2", "f3", "m1", "m2", "m3")
GENDERS = {"f": "female", "m": "male"}
SENTENCES = frozenset(
    [f"b{n}" for n in range(1, 4)] + [f"d{n}" for n in range(1, 3)]
    + [f"l{n}" for n in range(1, 5)] + [f"n{n}" for n in range(1, 6)]
)
"""The 14 sentence codes."""

_NAME = re.compile(r"(?P<emotion>[a-z]{3})-(?P<speaker>[fm]\d)-(?P<sentence>[a-z]\d)", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from an EMOVO file name; speakers keep the corpus' names (``f1``)."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    code, speaker, sentence = match["emotion"].lower(), match["speaker"].lower(), match["sentence"].lower()
    if code not in EMOTIONS:
        return f"unknown EMOVO emotion code {match['emotion']!r} (expected one of {', '.join(EMOTIONS)})"
    if speaker not in SPEAKERS:
        return f"unknown EMOVO speaker {match['speaker']!r} (expected one of {', '.join(SPEAKERS)})"
    if sentence not in SENTENCES:
        return f"unknown EMOVO sentence code {match['sentence']!r} (expected b1-b3, d1-d2, l1-l4 or n1-n5)"
    emotion, label = EMOTIONS[code]
    return Utterance(speaker, GENDERS[speaker[0]], emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an EMOVO folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(path, corpus=NAME, title=TITLE, language=LANGUAGE, expected=LAYOUT, parse=parse)
