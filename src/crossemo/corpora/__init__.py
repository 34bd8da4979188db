"""Corpus readers: one module per corpus, one table contract (:mod:`crossemo.corpora.base`).

Each reader module states its ``NAME``, ``TITLE``, ``LANGUAGE`` (or ``None``
and a ``LANGUAGE_NOTE``) and ``LAYOUT``; :func:`describe_corpora` lists them.

>>> {"cafe", "casia", "cremad", "emovo", "esd", "nemo", "shemo", "subesco"} <= set(READERS)
True
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import pandas as pd

from crossemo.corpora import (
    aesd,
    audformat_db,
    cafe,
    casia,
    cremad,
    emodb,
    emovo,
    esd,
    hf_dataset,
    iemocap,
    manifest,
    nemo,
    ravdess,
    savee,
    shemo,
    subesco,
    tess,
    urdu,
)
from crossemo.corpora.base import COLUMNS, LABELS
from crossemo.errors import CorpusLayoutError

__all__ = [
    "COLUMNS",
    "LABELS",
    "READERS",
    "UNLABELLED",
    "CorpusInfo",
    "class_by_speaker",
    "describe_corpora",
    "read_corpus",
    "summarize",
]

Reader = Callable[..., pd.DataFrame]

READERS: MappingProxyType[str, Reader] = MappingProxyType(
    {
        module.NAME: module.read
        for module in (
            *(iemocap, emodb, savee, cafe, urdu, aesd, ravdess, tess),
            *(cremad, emovo, casia, nemo, shemo, subesco, esd),
            manifest,
            audformat_db,
            hf_dataset,
        )
    }
)
"""Registry name -> reader ``read(path, **options) -> DataFrame`` (read-only mapping)."""


class CorpusInfo(NamedTuple):
    """What ``scan --list`` shows of one reader: its registry name, the corpus' name, language and layout."""

    name: str
    title: str
    language: str
    layout: str


def describe_corpora() -> list[CorpusInfo]:
    """Every reader of :data:`READERS`, sorted by name, as stated by its module.

    ``language`` is the module's ``LANGUAGE``, or its ``LANGUAGE_NOTE`` when the
    language varies per utterance; a module that states no ``LAYOUT`` is
    described by the first line of its reader's docstring.

    >>> next(info for info in describe_corpora() if info.name == "emovo").language
    'it'
    """
    described = []
    for name, reader in sorted(READERS.items()):
        module = inspect.getmodule(reader)
        language = getattr(module, "LANGUAGE", None) or getattr(module, "LANGUAGE_NOTE", None) or "not stated"
        layout = getattr(module, "LAYOUT", None) or (inspect.getdoc(reader) or "").partition("\n")[0]
        described.append(CorpusInfo(name, getattr(module, "TITLE", name), language, layout))
    return described


UNLABELLED = "unlabelled"
"""Column of :func:`class_by_speaker` counting rows without a four-class label."""


def read_corpus(
    name: str, path: str | os.PathLike[str], *, include_song: bool = False, **options: Any
) -> pd.DataFrame:
    """Read the corpus ``name`` (a key of :data:`READERS`, any case) found at ``path``.

    ``include_song`` keeps RAVDESS song files; corpora without song files ignore
    it.  For ``manifest``, ``path`` is the CSV file (or a folder holding
    ``manifest.csv``).  ``options`` are the reader's own (:func:`reader_options`,
    e.g. ``table`` for ``audformat``).  Raises :class:`~crossemo.errors.CorpusLayoutError` for
    an unknown name or option, a missing path or a folder that is not the named corpus.
    """
    key = name.strip().lower()
    if key not in READERS:
        raise CorpusLayoutError(f"unknown corpus {name!r}; known corpora: {', '.join(sorted(READERS))}")
    check_reader_options(key, options)
    if not Path(path).expanduser().exists():
        raise CorpusLayoutError(f"{key} path not found: {path}")
    reader = READERS[key]
    if "include_song" in inspect.signature(reader).parameters:
        options["include_song"] = include_song
    return reader(path, **options)


def reader_options(name: str) -> tuple[str, ...]:
    """The options the reader ``name`` takes: its keyword-only parameters.

    >>> reader_options("ravdess"), reader_options("emodb")
    (('include_song',), ())
    """
    parameters = inspect.signature(READERS[name]).parameters.values()
    return tuple(parameter.name for parameter in parameters if parameter.kind is inspect.Parameter.KEYWORD_ONLY)


def check_reader_options(name: str, options: dict[str, Any]) -> None:
    """Raise :class:`~crossemo.errors.CorpusLayoutError` naming the options ``name``'s reader does not take."""
    known = reader_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise CorpusLayoutError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for corpus {name!r}; "
            f"its options: {', '.join(known) or 'none'}"
        )


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
