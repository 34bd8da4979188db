"""Corpus readers: one module per corpus, one table contract (:mod:`crossemo.corpora.base`).

>>> sorted(READERS)
['aesd', 'cafe', 'emodb', 'iemocap', 'manifest', 'ravdess', 'savee', 'tess', 'urdu']
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from crossemo.corpora import aesd, cafe, emodb, iemocap, manifest, ravdess, savee, tess, urdu
from crossemo.corpora.base import COLUMNS, LABELS
from crossemo.errors import CorpusLayoutError

__all__ = ["COLUMNS", "LABELS", "READERS", "UNLABELLED", "class_by_speaker", "read_corpus", "summarize"]

Reader = Callable[..., pd.DataFrame]

READERS: MappingProxyType[str, Reader] = MappingProxyType(
    {
        module.NAME: module.read
        for module in (iemocap, emodb, savee, cafe, urdu, aesd, ravdess, tess, manifest)
    }
)
"""Registry name -> reader ``read(path, **options) -> DataFrame`` (read-only mapping)."""

UNLABELLED = "unlabelled"
"""Column of :func:`class_by_speaker` counting rows without a four-class label."""


def read_corpus(name: str, path: str | os.PathLike[str], *, include_song: bool = False) -> pd.DataFrame:
    """Read the corpus ``name`` (a key of :data:`READERS`, any case) found at ``path``.

    ``include_song`` keeps RAVDESS song files; corpora without song files ignore
    it.  For ``manifest``, ``path`` is the CSV file (or a folder holding
    ``manifest.csv``).  Raises :class:`~crossemo.errors.CorpusLayoutError` for
    an unknown name, a missing path or a folder that is not the named corpus.
    """
    key = name.strip().lower()
    if key not in READERS:
        raise CorpusLayoutError(f"unknown corpus {name!r}; known corpora: {', '.join(sorted(READERS))}")
    if not Path(path).expanduser().exists():
        raise CorpusLayoutError(f"{key} path not found: {path}")
    reader = READERS[key]
    options: dict[str, Any] = {}
    if "include_song" in inspect.signature(reader).parameters:
        options["include_song"] = include_song
    return reader(path, **options)


def summarize(table: pd.DataFrame) -> dict[str, Any]:
    """The ``scan --json`` object of a corpus table (plain JSON-ready types).

    Keys: ``corpus`` and ``language`` (the single value, or the sorted distinct
    values joined with ``","`` when a manifest mixes several; ``language`` is
    ``None`` when unknown), ``files`` (rows), ``labelled`` (rows with a label),
    ``labels`` (count of each of :data:`LABELS`, in that order, zeros included),
    ``emotions`` (count per emotion, by name; rows without an emotion are not
    counted), ``speakers`` (number of distinct speakers) and ``skipped`` (the
    ``{"path", "reason"}`` entries of ``table.attrs["skipped"]``).
    """
    labels = table["label"].value_counts()
    emotions = table["emotion"].dropna().value_counts()
    return {
        "corpus": _joined(table["corpus"]),
        "language": _joined(table["language"]),
        "files": int(len(table)),
        "labelled": int(table["label"].notna().sum()),
        "labels": {label: int(labels.get(label, 0)) for label in LABELS},
        "emotions": {str(emotion): int(emotions[emotion]) for emotion in sorted(emotions.index)},
        "speakers": int(table["speaker"].nunique()),
        "skipped": [dict(entry) for entry in table.attrs.get("skipped", [])],
    }


def class_by_speaker(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of each label (and :data:`UNLABELLED`) per speaker, speakers sorted.

    Rows are speakers, columns ``LABELS + ("unlabelled",)``, values ints.
    """
    classes = table["label"].astype(object).where(table["label"].notna(), UNLABELLED)
    counts = pd.crosstab(table["speaker"], classes)
    columns = [*LABELS, UNLABELLED]
    counts = counts.reindex(columns=columns, fill_value=0).sort_index().astype(int)
    counts.index.name = "speaker"
    counts.columns.name = None
    return counts


def _joined(values: pd.Series) -> str | None:
    distinct = sorted({str(value) for value in values.dropna()})
    return ",".join(distinct) if distinct else None
