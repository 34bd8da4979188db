"""Acoustic features of recordings, through a content-hashed Parquet cache.

Every utterance becomes one feature vector, computed by a :class:`FeatureExtractor`
on the mono mix-down :func:`crossemo.audio.read_audio` returns.  The default,
``"egemaps"``, is openSMILE's eGeMAPSv02 functionals, exactly what
``opensmile.Smile(...).process_signal(signal, sample_rate)`` gives; ``"gemaps"`` is
GeMAPSv01b, ``"compare"`` ComParE_2016 (6,373 features) and ``"emobase"`` emobase,
all at the functionals level.  ``"hf:MODEL[@LAYER]"`` is a self-supervised model's
mean-pooled hidden states (:mod:`~crossemo.features.ssl`).  Wherever a ``feature_set`` is accepted it may be a registry name
(:data:`EXTRACTORS`), a legacy name (``"eGeMAPSv02"``, as tables and bundles
record it), a :class:`FeatureSet` or an extractor instance.

Modules: :mod:`~crossemo.features.extractors` (the interface and the registry),
:mod:`~crossemo.features.cache` (the cache and its layout),
:mod:`~crossemo.features.extraction` (hashing, batching, workers).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from crossemo.corpora import read_corpus, summarize
from crossemo.execution import map_tasks
from crossemo.features.cache import CacheError, default_cache_dir, feature_cache_dir
from crossemo.features.extraction import Found, absolute, extract_paths
from crossemo.features.extraction import compute_batch as _compute_batch
from crossemo.features.extractors import (
    DEFAULT_EXTRACTOR,
    EXTRACTORS,
    SSL_PREFIX,
    FeatureError,
    FeatureExtractor,
    FeatureSet,
    OpenSmileExtractor,
    as_extractor,
    as_feature_set,
    get_extractor,
)
from crossemo.features.ssl import parse_name
from crossemo.fileio import check_new_file, file_sha256, path_from_text, path_to_text, write_parquet_atomic

__all__ = [
    "EXTRACTORS",
    "SSL_PREFIX",
    "CacheError",
    "FeatureError",
    "FeatureExtractor",
    "FeatureSet",
    "OpenSmileExtractor",
    "as_extractor",
    "as_feature_set",
    "check_feature_set_name",
    "default_cache_dir",
    "extract",
    "extract_corpus",
    "extract_files",
    "feature_cache_dir",
    "feature_names",
    "file_sha256",
    "get_extractor",
]

ERROR = "error"

FeatureSetLike = str | FeatureSet | FeatureExtractor


def feature_names(feature_set: FeatureSetLike = DEFAULT_EXTRACTOR) -> list[str]:
    """The extractor's column names, in its order and spelling (openSMILE's for the default).

    >>> names = feature_names()
    >>> len(names), names[0]
    (88, 'F0semitoneFrom27.5Hz_sma3nz_amean')
    """
    return list(as_extractor(feature_set).feature_names)


def check_feature_set_name(name: str) -> str:
    """``name`` if it names a feature set, else :class:`FeatureError` listing the known ones.

    Registered sets are built (cheap); an ``hf:MODEL[@LAYER]`` name is only parsed: its
    model is loaded when the set is first used (:func:`get_extractor`).

    >>> check_feature_set_name("compare"), check_feature_set_name("hf:/models/wavlm@6")
    ('compare', 'hf:/models/wavlm@6')
    """
    if isinstance(name, str) and name.startswith(SSL_PREFIX):
        parse_name(name)
    else:
        get_extractor(name)
    return name


def extract(
    table: pd.DataFrame,
    *,
    feature_set: FeatureSetLike = DEFAULT_EXTRACTOR,
    cache_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    progress: bool | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """The rows of a corpus table whose features could be computed, plus one column per feature.

    ``table["path"]`` is relative to ``table.attrs["root"]`` (or absolute / relative
    to the working directory when the table has no root); both are paths as text
    (:func:`crossemo.fileio.path_to_text`, as corpus readers write them).  Rows keep their index
    and order.  ``attrs`` are kept; ``attrs["skipped"]`` gains one
    ``{"path", "reason"}`` entry per file that failed (unreadable, empty, silent,
    too short, NaN features); ``attrs["feature_set"]`` names the feature set
    (``"eGeMAPSv02"`` for the default), ``attrs["extractor"]`` describes the extractor
    (:meth:`FeatureExtractor.describe`) and ``attrs["computed"]`` / ``attrs["cached"]``
    count distinct file contents (SHA-256) computed in this call / taken from the
    cache.  ``jobs``, ``progress`` and ``scheduler`` are those of
    :func:`crossemo.execution.map_tasks`; ``cache_dir`` defaults to
    :func:`default_cache_dir`.
    """
    if "path" not in table.columns:
        raise FeatureError("the table has no 'path' column")
    extractor = as_extractor(feature_set)
    names = list(extractor.feature_names)
    root = table.attrs.get("root")
    root = path_from_text(root) if isinstance(root, str) else root
    files = [absolute(path_from_text(path) if isinstance(path, str) else path, root) for path in table["path"]]
    found = _extract_paths(files, extractor, cache_dir=cache_dir, jobs=jobs, progress=progress, scheduler=scheduler)
    keys = [path_to_text(file) for file in files]
    keep = np.array([key in found.values.index for key in keys], dtype=bool)
    rows = table.loc[keep].drop(columns=[name for name in names if name in table.columns])
    values = found.values.loc[[key for key, kept in zip(keys, keep) if kept]]
    result = pd.concat([rows.reset_index(drop=True), values.reset_index(drop=True)], axis=1)
    result = result.set_axis(rows.index)
    skipped = [
        {"path": path if isinstance(path, str) else str(path), "reason": found.failures[key]}
        for path, key, kept in zip(table["path"], keys, keep)
        if not kept
    ]
    result.attrs = {
        **table.attrs,
        "skipped": [*table.attrs.get("skipped", []), *skipped],
        "feature_set": extractor.feature_set,
        "extractor": extractor.describe(),
        "computed": found.computed,
        "cached": found.cached,
    }
    return result


def extract_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    feature_set: FeatureSetLike = DEFAULT_EXTRACTOR,
    cache_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    progress: bool | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Features of arbitrary files: one row per input path, in order, failures included.

    Columns: ``path`` (absolute, as text: :func:`crossemo.fileio.path_to_text`), the
    feature columns (NaN where the file failed)
    and ``error`` (``None``, or why the file failed).  Options are those of
    :func:`extract`, and so are ``attrs["feature_set"]``, ``attrs["extractor"]``,
    ``attrs["computed"]`` and ``attrs["cached"]``.
    """
    extractor = as_extractor(feature_set)
    names = list(extractor.feature_names)
    files = [absolute(path, None) for path in paths]
    found = _extract_paths(files, extractor, cache_dir=cache_dir, jobs=jobs, progress=progress, scheduler=scheduler)
    keys = [path_to_text(file) for file in files]
    values = found.values.reindex(keys)
    result = pd.DataFrame({"path": keys})
    result = pd.concat([result, values.reset_index(drop=True)], axis=1)
    result[ERROR] = pd.Series([found.failures.get(key) for key in keys], dtype=object)
    result.attrs = {
        "feature_set": extractor.feature_set,
        "extractor": extractor.describe(),
        "computed": found.computed,
        "cached": found.cached,
    }
    return result[["path", *names, ERROR]]


def extract_corpus(
    name: str,
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    scheduler: str | None = None,
    feature_set: FeatureSetLike = DEFAULT_EXTRACTOR,
    force: bool = False,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Read corpus ``name`` at ``path``, extract its features and write them to Parquet ``out``.

    The file is written atomically and keeps the table's ``attrs`` (root,
    skipped).  An existing ``out`` is replaced only with ``force`` (checked before
    any work), and nothing is written when no file gave features
    (:class:`FeatureError`).  ``options`` are the reader's own (e.g. ``{"table": ...}``
    for audformat; see :func:`crossemo.corpora.read_corpus`).  Returns the ``scan
    --json`` summary of the extracted table (its ``skipped`` includes extraction
    failures) plus ``extracted`` (rows written), ``computed``, ``cached`` and ``out``.
    """
    out = check_new_file(out, force=force, option="--out", kind="Parquet file", error=FeatureError)
    table = read_corpus(name, path, **dict(options or {}))
    features = extract(
        table, feature_set=feature_set, cache_dir=cache_dir, jobs=jobs, progress=progress, scheduler=scheduler
    )
    if features.empty:
        failed = features.attrs["skipped"]
        example = f", e.g. {failed[-1]['path']}: {failed[-1]['reason']}" if failed else ""
        raise FeatureError(f"no features extracted: none of the {len(table)} files of {name} was usable{example}")
    try:
        write_parquet_atomic(features, out)
    except OSError as error:
        raise FeatureError(f"cannot write {path_to_text(out)}: {error.strerror or error}") from None
    return {
        **summarize(features),
        "extracted": int(len(features)),
        "computed": features.attrs["computed"],
        "cached": features.attrs["cached"],
        "out": path_to_text(out),
    }


def _extract_paths(files: list[str], extractor: FeatureExtractor, **options: Any) -> Found:
    # map_tasks and _compute_batch are looked up here, at call time, so that they can be
    # replaced in this module (the cluster tests slow batches down and kill workers mid-run).
    return extract_paths(files, extractor, map_tasks=map_tasks, worker=_compute_batch, **options)
