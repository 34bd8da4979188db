"""nEMO, Polish.

Files are ``samples/<SPK>_<emotion>_<N>.wav``, e.g. ``samples/WR0_anger_12.wav``
(24 kHz), beside ``data.tsv``: tab-separated columns ``file_id``, ``emotion``,
``raw_text``, ``normalized_text``, ``speaker_id``, ``gender``, ``age``.  The
emotion is read from the file name (so any folder layout works); speaker and
gender come from ``data.tsv`` when it lists the file (``speaker_id`` cells
carry leading spaces in the distribution: cells are stripped), otherwise the
speaker is the name's prefix and the gender stays missing.  A file whose
``data.tsv`` emotion contradicts its name is skipped with both.  Every
``data.tsv`` under the folder is read, the one nearest the root winning for a
file listed twice.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import NamedTuple

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

NAME = "nemo"
LANGUAGE = "pl"
TITLE = "nEMO"
LAYOUT = "samples/<SPK>_<emotion>_<N>.wav with data.tsv, e.g. samples/WR0_anger_12.wav"
"""The expected naming scheme, with an example (``scan --list``, layout errors)."""

SIDE_FILE = "data.tsv"
SIDE_COLUMNS = ("file_id", "emotion", "speaker_id", "gender")
"""Columns of ``data.tsv`` the reader needs (it ignores the texts and ``age``)."""

EMOTIONS: dict[str, tuple[str, str | None]] = {
    "anger": ("anger", "angry"),
    "fear": ("fear", None),
    "happiness": ("happiness", "happy"),
    "neutral": ("neutral", "neutral"),
    "sadness": ("sadness", "sad"),
    "surprised": ("surprised", None),
}
"""Emotion word -> (emotion, four-class label)."""

_NAME = re.compile(r"(?P<speaker>[A-Z]{2}\d)_(?P<emotion>[A-Z]+)_(?P<number>\d+)", re.IGNORECASE)


class Listing(NamedTuple):
    """What ``data.tsv`` says about one file."""

    speaker: str | None
    gender: str | None
    emotion: str | None


def file_stem(file_id: str) -> str:
    """A ``file_id`` cell as the file name without folders or extension.

    >>> file_stem("WR0_anger_12"), file_stem("samples/WR0_anger_12.wav")
    ('WR0_anger_12', 'WR0_anger_12')
    """
    name = PurePosixPath(file_id.replace("\\", "/")).name
    return name.rsplit(".", 1)[0] if "." in name else name


def read_listings(root: Path) -> dict[str, Listing]:
    """File id (the name without extension) -> its ``data.tsv`` facts, from every ``data.tsv`` under ``root``.

    Raises :class:`~crossemo.errors.CorpusLayoutError` for a ``data.tsv`` that
    cannot be parsed, lacks a needed column or holds a gender other than
    male/female/m/f (any case) or empty.
    """
    listings: dict[str, Listing] = {}
    for file in find_side_files(root, SIDE_FILE):
        table = read_side_table(file, title=TITLE, separator="\t", required=SIDE_COLUMNS, quoted=False)
        for line, row in enumerate(table.itertuples(index=False), start=2):  # line 1 is the header
            gender = row.gender.lower()
            if gender and gender not in GENDER_WORDS:
                raise CorpusLayoutError(
                    f"{TITLE} file {path_to_text(file)} line {line}: gender {row.gender!r} is not male, female, m or f"
                )
            listings.setdefault(
                file_stem(row.file_id).lower(),
                Listing(row.speaker_id or None, GENDER_WORDS.get(gender), row.emotion.lower() or None),
            )
    return listings


def parse_name(relative: PurePosixPath, *, listings: dict[str, Listing]) -> Utterance | str | None:
    """Facts from a nEMO file name and its ``data.tsv`` line, if any."""
    match = _NAME.fullmatch(relative.stem)
    if match is None:
        return None
    word = match["emotion"].lower()
    if word not in EMOTIONS:
        return f"unknown nEMO emotion {match['emotion']!r} (expected one of {', '.join(EMOTIONS)})"
    listing = listings.get(relative.stem.lower(), Listing(None, None, None))
    if listing.emotion is not None and listing.emotion != word:
        return f"{SIDE_FILE} gives emotion {listing.emotion!r}, the file name {word!r}"
    emotion, label = EMOTIONS[word]
    return Utterance(listing.speaker or match["speaker"].upper(), listing.gender, emotion, label)


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a nEMO folder (with or without ``data.tsv``) into a corpus table."""
    root = corpus_root(path, title=TITLE)
    listings = read_listings(root)
    return scan_directory(
        root,
        corpus=NAME,
        title=TITLE,
        language=LANGUAGE,
        expected=LAYOUT,
        parse=lambda relative: parse_name(relative, listings=listings),
    )
