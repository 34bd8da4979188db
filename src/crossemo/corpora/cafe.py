"""CaFE (Canadian French Emotional speech dataset), French.

Files are ``<Emotion>/<Intensity>/AA-E-I-S.wav``, e.g. ``Colère/Fort/01-C-2-3.wav``:
actor ``AA`` 01-12, emotion letter ``E``, intensity ``I`` (1 faible, 2 fort),
sentence ``S`` 1-6.  Neutral utterances have neither an intensity folder nor an
intensity field: ``Neutre/AA-N-S.wav``, e.g. ``Neutre/03-N-1.wav``.  The folder
names carry non-ASCII letters that some unzip tools garble (``ColŠre``); they are
not needed: everything is read from the file name, so any folder layout works.

Two editions exist: 48 kHz WAV, and 192 kHz 24-bit AIFF (``.aiff`` files in
``CaFE_192k_1/`` and ``CaFE_192k_2/``); both read alike.  When one folder holds
an utterance twice (both editions copied together), the first path in sorted
order is kept and the others are skipped with the reason.

Gender follows the corpus' Readme: odd actor numbers are men, even ones women.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory, skip

NAME = "cafe"
LANGUAGE = "fr"
TITLE = "CaFE"
LAYOUT = "<Emotion>/<Intensity>/AA-E-I-S.wav or .aiff, neutral Neutre/AA-N-S.wav, e.g. Colère/Fort/01-C-2-3.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

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

NEUTRAL = "N"
ACTORS = range(1, 13)
INTENSITIES = {"1": "faible", "2": "fort"}
SENTENCES = range(1, 7)

_NAME = re.compile(
    r"(?P<actor>\d{2})-(?P<emotion>[A-Z])(?:-(?P<intensity>\d))?-(?P<sentence>\d)", re.IGNORECASE
)


def utterance_key(stem: str) -> str | None:
    """The utterance a CaFE file name stands for, whatever its edition, or ``None``.

    >>> utterance_key("01-c-2-3") == utterance_key("01-C-2-3"), utterance_key("notes")
    (True, None)
    """
    match = _NAME.fullmatch(stem)
    return None if match is None else stem.upper()


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from a CaFE file name; speakers are named ``Actor_AA``."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    letter = match["emotion"].upper()
    if letter not in EMOTIONS:
        return f"unknown CaFE emotion letter {match['emotion']!r} (expected one of {', '.join(EMOTIONS)})"
    intensity = match["intensity"]
    if intensity is None and letter != NEUTRAL:
        return f"CaFE emotion {letter} needs an intensity field (AA-E-I-S); only neutral names are AA-N-S"
    if intensity is not None and intensity not in INTENSITIES:
        return f"CaFE intensity {intensity} is neither 1 (faible) nor 2 (fort)"
    if int(match["sentence"]) not in SENTENCES:
        return f"CaFE sentence {match['sentence']} is outside 1-6"
    actor = int(match["actor"])
    if actor not in ACTORS:
        return f"CaFE actor {match['actor']} is outside 01-12"
    emotion, label = EMOTIONS[letter]
    return Utterance(f"Actor_{actor:02d}", "male" if actor % 2 else "female", emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CaFE folder (either edition) into a corpus table (see :mod:`crossemo.corpora.base`)."""
    table = scan_directory(path, corpus=NAME, title=TITLE, language=LANGUAGE, expected=LAYOUT, parse=parse)
    keys = table["path"].map(lambda relative: utterance_key(PurePosixPath(relative).stem))
    repeated = keys.duplicated()
    if not repeated.any():
        return table
    first = dict(zip(keys[~repeated], table["path"][~repeated], strict=True))
    extra = [
        skip(relative, f"the same CaFE utterance as {first[key]} (another edition or copy)")
        for relative, key in zip(table["path"][repeated], keys[repeated], strict=True)
    ]
    kept = table[~repeated].reset_index(drop=True)
    kept.attrs = {**table.attrs, "skipped": sorted(table.attrs["skipped"] + extra, key=lambda entry: entry["path"])}
    return kept
