"""ESD (Emotional Speech Dataset), Mandarin and English by speaker.

Files are ``<speaker>/<Angry|Happy|Neutral|Sad|Surprise>/<speaker>_<NNNNNN>.wav``,
e.g. ``0011/Angry/0011_000351.wav``, in some copies with ``train/``,
``evaluation/`` or ``test/`` folders under each emotion folder; each speaker
folder also holds a ``<speaker>.txt`` transcript (not needed here).  Speakers
0001-0010 speak Mandarin (``zh``), 0011-0020 English (``en``): ``language``
is set per utterance from the speaker number in the file name.

The file name identifies the corpus and the speaker, but **the label lives
only in the emotion folder** (the nearest folder above the file named after
one of the five emotions, any case); a file outside one is skipped with the
reason.  Genders are not read (left missing).
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "esd"
LANGUAGE = None
LANGUAGE_NOTE = "zh or en by speaker (0001-0010 zh, 0011-0020 en)"
TITLE = "ESD"
LAYOUT = (
    "<speaker>/<Angry|Happy|Neutral|Sad|Surprise>/[train|evaluation|test/]<speaker>_<NNNNNN>.wav,"
    " e.g. 0011/Angry/0011_000351.wav"
)
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "angry": ("angry", "angry"),
    "happy": ("happy", "happy"),
    "neutral": ("neutral", "neutral"),
    "sad": ("sad", "sad"),
    "surprise": ("surprise", None),
}
"""Emotion folder (lower case) -> (emotion, four-class label)."""

MANDARIN_SPEAKERS = range(1, 11)
ENGLISH_SPEAKERS = range(11, 21)

_NAME = re.compile(r"(?P<speaker>\d{4})_(?P<utterance>\d{6})")


def speaker_language(speaker: int) -> str | None:
    """The language an ESD speaker number speaks, or ``None`` outside 1-20.

    >>> speaker_language(1), speaker_language(10), speaker_language(11), speaker_language(21)
    ('zh', 'zh', 'en', None)
    """
    if speaker in MANDARIN_SPEAKERS:
        return "zh"
    if speaker in ENGLISH_SPEAKERS:
        return "en"
    return None


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from an ESD path: speaker and language from the name, emotion from its folder."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    language = speaker_language(int(match["speaker"]))
    if language is None:
        return f"ESD speaker {match['speaker']} is outside 0001-0020"
    folder = next((part.lower() for part in reversed(relative.parent.parts) if part.lower() in EMOTIONS), None)
    if folder is None:
        return f"no ESD emotion folder ({', '.join(name.title() for name in EMOTIONS)}) above the file"
    emotion, label = EMOTIONS[folder]
    return Utterance(match["speaker"], None, emotion, label, language=language)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an ESD folder into a corpus table; ``language`` varies per row (see the module docstring)."""
    return scan_directory(path, corpus=NAME, title=TITLE, language=LANGUAGE, expected=LAYOUT, parse=parse)
