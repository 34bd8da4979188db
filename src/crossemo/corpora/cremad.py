"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset), English, 91 actors.

Files are ``AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav``, e.g.
``AudioWAV/1001_DFA_ANG_XX.wav``: actor 1001-1091, one of twelve sentence
codes, emotion code, intensity level (LO, MD, HI, or XX unspecified).
Everything but gender is read from the file name, so any folder layout works.
Genders come from ``VideoDemographics.csv`` (columns ``ActorID``, ``Age``,
``Sex``, ``Race``, ``Ethnicity``) when the folder holds it (the one nearest the
root); otherwise, and for actors it does not list, gender stays missing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from crossemo.corpora.base import (
    GENDER_WORDS,
    Utterance,
    corpus_root,
    find_side_files,
    read_side_table,
    scan_directory,
)
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import path_to_text

NAME = "cremad"
LANGUAGE = "en"
TITLE = "CREMA-D"
LAYOUT = "AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav (+ VideoDemographics.csv), e.g. AudioWAV/1001_DFA_ANG_XX.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

SIDE_FILE = "VideoDemographics.csv"
SIDE_COLUMNS = ("ActorID", "Sex")

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "ANG": ("anger", "angry"),
    "DIS": ("disgust", None),
    "FEA": ("fear", None),
    "HAP": ("happy", "happy"),
    "NEU": ("neutral", "neutral"),
    "SAD": ("sad", "sad"),
}
"""Emotion code -> (emotion, four-class label)."""

SENTENCES = frozenset({"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"})
LEVELS = frozenset({"LO", "MD", "HI", "XX"})
ACTORS = range(1001, 1092)

_NAME = re.compile(r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})", re.IGNORECASE)


def read_genders(root: Path) -> dict[str, str | None]:
    """Actor id -> gender from the ``VideoDemographics.csv`` nearest ``root`` (empty when there is none).

    Raises :class:`~crossemo.errors.CorpusLayoutError` for a file that cannot
    be parsed, lacks ``ActorID`` or ``Sex``, or holds another ``Sex`` than
    Male/Female (any case) or empty.
    """
    files = find_side_files(root, SIDE_FILE)
    if not files:
        return {}
    table = read_side_table(files[0], title=TITLE, separator=",", required=SIDE_COLUMNS)
    genders: dict[str, str | None] = {}
    for line, (actor, sex) in enumerate(zip(table["ActorID"], table["Sex"], strict=True), start=2):
        if sex and sex.lower() not in GENDER_WORDS:
            raise CorpusLayoutError(
                f"{TITLE} file {path_to_text(files[0])} line {line}: Sex {sex!r} is neither Male nor Female"
            )
        genders.setdefault(actor, GENDER_WORDS.get(sex.lower()))
    return genders


def parse_name(relative: PurePosixPath, *, genders: dict[str, str | None]) -> Utterance | str | None:
    """Facts from a CREMA-D file name; speakers keep the actor number (``1001``)."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    actor, sentence = match["actor"], match["sentence"].upper()
    code, level = match["emotion"].upper(), match["level"].upper()
    if code not in EMOTIONS:
        return f"unknown CREMA-D emotion code {match['emotion']!r} (expected one of {', '.join(EMOTIONS)})"
    if sentence not in SENTENCES:
        return f"unknown CREMA-D sentence code {match['sentence']!r}"
    if level not in LEVELS:
        return f"unknown CREMA-D level {match['level']!r} (expected LO, MD, HI or XX)"
    if int(actor) not in ACTORS:
        return f"CREMA-D actor {actor} is outside 1001-1091"
    emotion, label = EMOTIONS[code]
    return Utterance(actor, genders.get(actor), emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CREMA-D folder into a corpus table (see :mod:`crossemo.corpora.base`)."""
    root = corpus_root(path, title=TITLE)
    genders = read_genders(root)
    return scan_directory(
        root,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=lambda relative: parse_name(relative, genders=genders),
    )
