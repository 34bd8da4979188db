"""AESD (Acted Emotional Speech Dynamic Database, AESDD), Greek.

Files are ``<anger|disgust|fear|happiness|sadness>/<e><NN> (<actor>).wav``,
e.g. ``anger/a01 (1).wav``: emotion letter ``e``, utterance ``NN`` (01-20),
actor number.  One scheme covers every release: five actors in v1.0, six or
more later; some names zero-pad the actor (``d03 (01).wav`` is actor 1, the
same speaker as ``(1)``); a second take of an utterance carries a lower-case
letter after the parenthesis (``a06 (5)b.wav``).  Everything is read from the
file name, so any folder layout works.  There is no neutral class: the corpus
serves the three-class task.  The distribution does not say which actor is
which gender, so gender is left missing.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "aesd"
LANGUAGE = "el"
TITLE = "AESD"
LAYOUT = "<anger|disgust|fear|happiness|sadness>/<e><NN> (<actor>)[take].wav, e.g. anger/a01 (1).wav, a06 (5)b.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "a": ("anger", "angry"),
    "d": ("disgust", None),
    "f": ("fear", None),
    "h": ("happiness", "happy"),
    "s": ("sadness", "sad"),
}
"""Emotion letter -> (emotion, four-class label)."""

UTTERANCES = range(1, 21)
"""Utterance numbers ``NN`` the corpus uses."""

_NAME = re.compile(r"(?P<emotion>[a-z])(?P<utterance>\d{1,2})\s*\(\s*(?P<actor>\d+)\s*\)\s*(?P<take>[a-z]?)", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from an AESD file name; speakers are named ``Actor_N`` (no zero padding)."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    letter = match["emotion"].lower()
    if letter not in EMOTIONS:
        return f"unknown AESD emotion letter {match['emotion']!r} (expected one of {', '.join(EMOTIONS)})"
    if int(match["utterance"]) not in UTTERANCES:
        return f"AESD utterance number {match['utterance']} is outside 01-20"
    actor = int(match["actor"])
    if actor < 1:
        return f"AESD actor number {match['actor']!r} is not a positive number"
    emotion, label = EMOTIONS[letter]
    return Utterance(f"Actor_{actor}", None, emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an AESD folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(path, corpus=NAME, title=TITLE, language=LANGUAGE, expected=LAYOUT, parse=parse)
