"""SAVEE (Surrey Audio-Visual Expressed Emotion), British English, four male speakers.

Files are ``AudioData/<DC|JE|JK|KL>/<code><NN>.wav`` with emotion codes a, d, f,
h, n, sa, su.  The speaker comes from the nearest folder named after one of
the four speakers, or from a ``DC_`` style prefix of the name, as in some
re-distributed flat copies (``DC_a01.wav``).
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import pandas as pd

from crossemo.corpora.base import Utterance, scan_directory

NAME = "savee"
LANGUAGE = "en"
TITLE = "SAVEE"
LAYOUT = "AudioData/<DC|JE|JK|KL>/<a|d|f|h|n|sa|su><NN>.wav, e.g. AudioData/DC/a01.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

SPEAKERS = ("DC", "JE", "JK", "KL")

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "a": ("anger", "angry"),
    "d": ("disgust", None),
    "f": ("fear", None),
    "h": ("happiness", "happy"),
    "n": ("neutral", "neutral"),
    "sa": ("sadness", "sad"),
    "su": ("surprise", None),
}
"""Emotion code -> (emotion, four-class label)."""

_NAME = re.compile(r"(?:(?P<speaker>[A-Za-z]{2})_)?(?P<code>sa|su|[adfhn])(?P<number>\d{2})", re.IGNORECASE)


def parse(relative: PurePosixPath) -> Utterance | str | None:
    """Facts from a SAVEE path; all speakers are male."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    candidates = [match["speaker"]] if match["speaker"] else list(reversed(relative.parent.parts))
    speaker = next((part.upper() for part in candidates if part.upper() in SPEAKERS), None)
    if speaker is None:
        return f"speaker unknown: expected a folder or prefix named {', '.join(SPEAKERS)}"
    emotion, label = EMOTIONS[match["code"].lower()]
    return Utterance(speaker, "male", emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a SAVEE folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    return scan_directory(
        path,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=parse,
    )
