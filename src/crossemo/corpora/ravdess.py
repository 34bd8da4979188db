"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), English.

Files are named ``MM-VV-EE-II-SS-RR-AA.wav`` in ``Actor_AA`` folders: modality
``MM`` (03 audio-only), vocal channel ``VV`` (01 speech, 02 song), emotion
``EE``, intensity ``II``, statement ``SS``, repetition ``RR``, actor ``AA``
(odd actors are male).  Only the name is read, so any folder layout works.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "ravdess"
LANGUAGE = "en"
TITLE = "RAVDESS"
LAYOUT = "Actor_NN/03-01-EE-II-SS-RR-AA.wav, e.g. Actor_01/03-01-05-01-01-01-01.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "01": ("neutral", "neutral"),
    "02": ("calm", None),
    "03": ("happy", "happy"),
    "04": ("sad", "sad"),
    "05": ("angry", "angry"),
    "06": ("fearful", None),
    "07": ("disgust", None),
    "08": ("surprised", None),
}
"""Emotion code ``EE`` -> (emotion, four-class label)."""

AUDIO_ONLY = "03"
SPEECH, SONG = "01", "02"

_NAME = re.compile(
    r"(?P<modality>\d{2})-(?P<channel>\d{2})-(?P<emotion>\d{2})-(?P<intensity>\d{2})"
    r"-(?P<statement>\d{2})-(?P<repetition>\d{2})-(?P<actor>\d{2})"
)


def parse_name(relative: PurePosixPath, *, include_song: bool = False) -> Utterance | str | None:
    """Facts from a RAVDESS file name; speakers are named ``Actor_AA``."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    if match["modality"] != AUDIO_ONLY:
        return f"modality {match['modality']} is not audio-only (03)"
    channel = match["channel"]
    if channel == SONG and not include_song:
        return "song file (vocal channel 02); pass include_song=True to keep it"
    if channel not in (SPEECH, SONG):
        return f"unknown vocal channel {channel}"
    if match["emotion"] not in EMOTIONS:
        return f"unknown emotion code {match['emotion']}"
    actor = int(match["actor"])
    emotion, label = EMOTIONS[match["emotion"]]
    return Utterance(f"Actor_{match['actor']}", "male" if actor % 2 else "female", emotion, label)


def read(path: str | os.PathLike[str], *, include_song: bool = False) -> pd.DataFrame:
    """Read a RAVDESS folder into a corpus table; song files only with ``include_song``."""
    return scan_directory(
        path,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=lambda relative: parse_name(relative, include_song=include_song),
    )
