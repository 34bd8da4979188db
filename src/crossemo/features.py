"""eGeMAPS functionals via openSMILE, with a content-hashed Parquet cache.

Every utterance becomes the feature set's functionals, computed by ``opensmile``
on the mono mix-down :func:`crossemo.audio.read_audio` returns, so values are
exactly what ``opensmile.Smile(...).process_signal(signal, sample_rate)`` gives.

The cache lives under :func:`default_cache_dir`::

    features/<feature set>-opensmile<version>/<shard>.parquet   sha256 + feature columns
    file-hashes/<shard>.parquet                                 path, size, m/ctime_ns -> sha256

Results are keyed by the SHA-256 of the file's content, so a renamed or copied
file is not recomputed and a changed one is.  The second folder only saves
rehashing files whose path, size and modification/change times are unchanged.  Each
folder is a set of immutable shards: every finished batch of files is written at
once as a new shard (temporary name, then :func:`os.replace`), so an interrupted
run keeps what it finished and concurrent runs never corrupt each other; when
shards pile up they are merged into one.  Files that fail are never cached.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import stat
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import opensmile
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crossemo.audio import AudioError, read_audio
from crossemo.corpora import read_corpus, summarize
from crossemo.errors import CrossemoError
from crossemo.execution import TaskFailure, default_jobs, map_tasks
from crossemo.fileio import write_atomic, write_parquet_atomic

MAX_BATCH = 16
"""Most files one task extracts: enough to amortise a task's overhead, few enough to balance."""

TASKS_PER_WORKER = 8
"""Batches are sized so that each worker gets about this many, which keeps the tail short."""

POOL_MIN_FILES = 24
"""Fewer files to compute than this run in this process: starting workers (about 1 s each) costs more."""

MAX_SHARDS = 16
"""A cache folder holding more shards than this is merged into one after a run."""

STALE_TEMPORARY_S = 24 * 3600
"""Age after which a temporary shard (left by a killed writer) is deleted when merging."""

SHA256 = "sha256"
ERROR = "error"


class FeatureError(CrossemoError, ValueError):
    """Feature extraction was asked for something it cannot do.

    An unknown feature set, a table without paths (or a path cell that is empty), an output
    file it cannot write.
    """


class CacheError(CrossemoError, OSError):
    """The feature cache folder cannot be written (permissions, a file in the way, a full disk)."""


class FeatureSet(str, Enum):
    """openSMILE feature sets crossemo extracts, at the Functionals level (one vector per file)."""

    eGeMAPSv02 = "eGeMAPSv02"
    GeMAPSv01b = "GeMAPSv01b"


def feature_names(feature_set: FeatureSet | str = FeatureSet.eGeMAPSv02) -> list[str]:
    """The feature set's column names, in openSMILE's order and spelling.

    >>> names = feature_names()
    >>> len(names), names[0]
    (88, 'F0semitoneFrom27.5Hz_sma3nz_amean')
    """
    return list(_smile(as_feature_set(feature_set)).feature_names)


def as_feature_set(value: FeatureSet | str) -> FeatureSet:
    """``value`` as a :class:`FeatureSet`; raises :class:`FeatureError` for unknown names."""
    try:
        return FeatureSet(value)
    except ValueError:
        known = ", ".join(member.value for member in FeatureSet)
        raise FeatureError(f"unknown feature set {value!r}; known: {known}") from None


def default_cache_dir() -> Path:
    """``$CROSSEMO_CACHE_DIR``, else ``$XDG_CACHE_HOME/crossemo``, else ``~/.cache/crossemo``."""
    if os.environ.get("CROSSEMO_CACHE_DIR"):
        return Path(os.environ["CROSSEMO_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "crossemo"
    return Path.home() / ".cache" / "crossemo"


def feature_cache_dir(
    cache_dir: str | os.PathLike[str] | None = None, feature_set: FeatureSet | str = FeatureSet.eGeMAPSv02
) -> Path:
    """Folder of the cached features of one feature set and openSMILE version."""
    return _cache_root(cache_dir) / "features" / f"{as_feature_set(feature_set).value}-opensmile{opensmile.__version__}"


def extract(
    table: pd.DataFrame,
    *,
    feature_set: FeatureSet | str = FeatureSet.eGeMAPSv02,
    cache_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    progress: bool | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """The rows of a corpus table whose features could be computed, plus one column per feature.

    ``table["path"]`` is relative to ``table.attrs["root"]`` (or absolute / relative
    to the working directory when the table has no root).  Rows keep their index
    and order.  ``attrs`` are kept; ``attrs["skipped"]`` gains one
    ``{"path", "reason"}`` entry per file that failed (unreadable, empty, silent,
    too short, NaN features); ``attrs["feature_set"]`` names the feature set and
    ``attrs["computed"]`` / ``attrs["cached"]`` count distinct file contents
    (SHA-256) computed in this call / taken from the cache.  ``jobs``, ``progress`` and ``scheduler``
    are those of :func:`crossemo.execution.map_tasks`; ``cache_dir`` defaults to
    :func:`default_cache_dir`.
    """
    if "path" not in table.columns:
        raise FeatureError("the table has no 'path' column")
    feature_set = as_feature_set(feature_set)
    names = feature_names(feature_set)
    root = table.attrs.get("root")
    files = [_absolute(path, root) for path in table["path"]]
    found = _extract_paths(
        files, feature_set=feature_set, cache_dir=cache_dir, jobs=jobs, progress=progress, scheduler=scheduler
    )
    keep = np.array([file in found.values.index for file in files], dtype=bool)
    rows = table.loc[keep].drop(columns=[name for name in names if name in table.columns])
    values = found.values.loc[[file for file, kept in zip(files, keep) if kept]]
    result = pd.concat([rows.reset_index(drop=True), values.reset_index(drop=True)], axis=1)
    result = result.set_axis(rows.index)
    skipped = [
        {"path": str(path), "reason": found.failures[file]}
        for path, file, kept in zip(table["path"], files, keep)
        if not kept
    ]
    result.attrs = {
        **table.attrs,
        "skipped": [*table.attrs.get("skipped", []), *skipped],
        "feature_set": feature_set.value,
        "computed": found.computed,
        "cached": found.cached,
    }
    return result


def extract_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    feature_set: FeatureSet | str = FeatureSet.eGeMAPSv02,
    cache_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    progress: bool | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Features of arbitrary files: one row per input path, in order, failures included.

    Columns: ``path`` (absolute), the feature columns (NaN where the file failed)
    and ``error`` (``None``, or why the file failed).  Options are those of
    :func:`extract`, and so are ``attrs["computed"]`` and ``attrs["cached"]``.
    """
    feature_set = as_feature_set(feature_set)
    names = feature_names(feature_set)
    files = [_absolute(path, None) for path in paths]
    found = _extract_paths(
        files, feature_set=feature_set, cache_dir=cache_dir, jobs=jobs, progress=progress, scheduler=scheduler
    )
    values = found.values.reindex(files)
    result = pd.DataFrame({"path": files})
    result = pd.concat([result, values.reset_index(drop=True)], axis=1)
    result[ERROR] = pd.Series([found.failures.get(file) for file in files], dtype=object)
    result.attrs = {"feature_set": feature_set.value, "computed": found.computed, "cached": found.cached}
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
    feature_set: FeatureSet | str = FeatureSet.eGeMAPSv02,
) -> dict[str, Any]:
    """Read corpus ``name`` at ``path``, extract its features and write them to Parquet ``out``.

    The file is written atomically and keeps the table's ``attrs`` (root,
    skipped).  Returns the ``scan --json`` summary of the extracted table (its
    ``skipped`` includes extraction failures) plus ``extracted`` (rows written),
    ``computed``, ``cached`` and ``out``.
    """
    table = read_corpus(name, path)
    features = extract(
        table, feature_set=feature_set, cache_dir=cache_dir, jobs=jobs, progress=progress, scheduler=scheduler
    )
    out = Path(out).expanduser()
    try:
        write_parquet_atomic(features, out)
    except OSError as error:
        raise FeatureError(f"cannot write {out}: {error.strerror or error}") from None
    return {
        **summarize(features),
        "extracted": int(len(features)),
        "computed": features.attrs["computed"],
        "cached": features.attrs["cached"],
        "out": str(out),
    }


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's content."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# --- extraction core --------------------------------------------------------


@dataclass
class _Found:
    """Features found for a list of absolute paths (computed or cached) and why the others failed."""

    values: pd.DataFrame  # index: absolute path (distinct); columns: feature names
    failures: dict[str, str] = field(default_factory=dict)  # absolute path -> reason
    computed: int = 0
    cached: int = 0


def _extract_paths(
    files: Sequence[str],
    *,
    feature_set: FeatureSet,
    cache_dir: str | os.PathLike[str] | None,
    jobs: int | None,
    progress: bool | None,
    scheduler: str | None,
) -> _Found:
    names = feature_names(feature_set)
    cache_root = _cache_root(cache_dir)
    hashes, sizes, failures = _content_hashes(list(dict.fromkeys(files)), _hash_store(cache_root))
    store = _feature_store(feature_cache_dir(cache_root, feature_set), names)
    cached = _read_features(store, names)
    cached = cached.loc[cached.index.intersection(pd.Index(list(set(hashes.values())), dtype=object))]

    todo: dict[str, str] = {}  # one computation per distinct content: sha256 -> a file holding it
    for file, digest in hashes.items():
        if digest not in cached.index and digest not in todo:
            todo[digest] = file
    computed, failed = _compute_missing(
        todo, sizes, store, feature_set=feature_set, jobs=jobs, progress=progress, scheduler=scheduler
    )
    store.compact()

    every = pd.concat([cached, computed])
    ok = [file for file, digest in hashes.items() if digest in every.index]
    values = every.loc[[hashes[file] for file in ok]].set_axis(pd.Index(ok, name="path"))
    failures.update({file: failed[digest] for file, digest in hashes.items() if digest in failed})
    return _Found(values=values, failures=failures, computed=len(todo), cached=len(cached))


def _compute_missing(
    todo: dict[str, str],
    sizes: dict[str, int],
    store: _ShardStore,
    *,
    feature_set: FeatureSet,
    jobs: int | None,
    progress: bool | None,
    scheduler: str | None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Compute ``todo`` (sha256 -> file), caching each finished batch at once.

    Returns the features (index sha256) and the reason per sha256 that failed.
    """
    names = feature_names(feature_set)
    if scheduler is None and len(todo) < POOL_MIN_FILES:
        jobs = 1  # starting workers would cost more than the work
    largest_first = sorted(todo, key=lambda digest: -sizes[todo[digest]])  # so the last tasks are short
    batches = _batches([(digest, todo[digest]) for digest in largest_first], scheduler=scheduler, jobs=jobs)
    frames: list[pd.DataFrame] = [_empty_features(names)]
    failed: dict[str, str] = {}
    tasks = map_tasks(
        _compute_batch,
        [(feature_set.value, batch) for batch in batches],
        jobs=jobs,
        scheduler=scheduler,
        progress=progress,
        description=f"{feature_set.value}: {len(todo)} files",
    )
    for index, outcome in tasks:
        if isinstance(outcome, TaskFailure):
            failed.update({digest: f"feature extraction failed: {outcome}" for digest, _ in batches[index]})
            continue
        failed.update({digest: result for digest, result in outcome if isinstance(result, str)})
        good = [(digest, result) for digest, result in outcome if not isinstance(result, str)]
        if good:
            keys, rows = zip(*good)
            frame = pd.DataFrame(np.vstack(rows), index=pd.Index(keys, name=SHA256, dtype=object), columns=names)
            store.append(pa.Table.from_pandas(frame.reset_index(), preserve_index=False))
            frames.append(frame)
    return pd.concat(frames), failed


def _batches(work: list[tuple[str, str]], *, scheduler: str | None, jobs: int | None) -> list[list[tuple[str, str]]]:
    """Split ``work`` into consecutive batches, about :data:`TASKS_PER_WORKER` per worker."""
    in_process = scheduler is None and jobs == 1
    workers = 1 if in_process else (jobs or default_jobs())
    size = MAX_BATCH if in_process else math.ceil(len(work) / (workers * TASKS_PER_WORKER))
    size = max(1, min(MAX_BATCH, size))
    return [work[start : start + size] for start in range(0, len(work), size)]


def _compute_batch(task: tuple[str, list[tuple[str, str]]]) -> list[tuple[str, np.ndarray | str]]:
    """Worker side: ``(feature set, [(key, path), ...])`` -> ``[(key, features or reason), ...]``."""
    feature_set_value, files = task
    smile = _smile(FeatureSet(feature_set_value))
    return [(key, _compute_file(smile, path)) for key, path in files]


def _compute_file(smile: opensmile.Smile, path: str) -> np.ndarray | str:
    """The file's feature vector, or the reason it has none."""
    try:
        signal, sample_rate = read_audio(path)
        # Calling the extractor runs exactly what process_signal runs, minus building a DataFrame.
        values = smile(signal, sample_rate).reshape(-1)
    except AudioError as error:
        return str(error)
    except Exception as error:  # openSMILE can fail on unusual input; that file is skipped
        return f"feature extraction failed: {type(error).__name__}: {error}"
    bad = [name for name, value in zip(smile.feature_names, values) if not np.isfinite(value)]
    if bad:
        listed = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        return f"NaN features: {listed}"
    return values


@functools.cache
def _smile(feature_set: FeatureSet) -> opensmile.Smile:
    """One extractor per feature set and process: building it parses the openSMILE config."""
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet[feature_set.value],
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _absolute(path: str | os.PathLike[str], root: str | os.PathLike[str] | None) -> str:
    if not isinstance(path, str | os.PathLike):  # e.g. NaN from a table's empty cell
        raise FeatureError(f"not a file path: {path!r}")
    full = Path(path).expanduser()
    if root is not None and not full.is_absolute():
        full = Path(root) / full
    return os.path.abspath(full)


# --- content hashes ---------------------------------------------------------


def _hash_store(cache_root: Path) -> _ShardStore:
    # ctime too: unlike mtime it cannot be set back (cp -p, touch), and it changes on every write.
    signature = ("path", "size", "mtime_ns", "ctime_ns")
    return _ShardStore(cache_root / "file-hashes", columns=(*signature, SHA256), key=signature)


def _content_hashes(files: Sequence[str], store: _ShardStore) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
    """SHA-256 per readable file (reusing known hashes of unchanged files), sizes, and failures."""
    known_table = store.read()
    known: dict[tuple[str, int, int, int], str] = {}
    if known_table is not None:
        *signatures, digests = (known_table.column(name).to_pylist() for name in store.columns)
        known = dict(zip(zip(*signatures), digests))
    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    failures: dict[str, str] = {}
    new: list[tuple[str, int, int, int, str]] = []
    for file in files:
        try:
            status = os.stat(file)
            if not stat.S_ISREG(status.st_mode):
                failures[file] = "unreadable audio: not a regular file"
                continue
            signature = (file, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
            digest = known.get(signature)
            if digest is None:
                digest = file_sha256(file)
                new.append((*signature, digest))
        except OSError as error:
            failures[file] = f"unreadable audio: {error.strerror or error}"
            continue
        hashes[file] = digest
        sizes[file] = status.st_size
    if new:
        store.append(pa.table(dict(zip(store.columns, map(list, zip(*new))))))
        store.compact()
    return hashes, sizes, failures


# --- shard store ------------------------------------------------------------


def _feature_store(folder: Path, names: list[str]) -> _ShardStore:
    return _ShardStore(folder, columns=(SHA256, *names), key=(SHA256,))


def _read_features(store: _ShardStore, names: list[str]) -> pd.DataFrame:
    """Every cached feature vector, index sha256 (distinct)."""
    table = store.read()
    if table is None:
        return _empty_features(names)
    frame = table.to_pandas().set_index(SHA256)
    return frame.loc[~frame.index.duplicated()]


def _empty_features(names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=names, index=pd.Index([], name=SHA256, dtype=object), dtype=np.float32)


@dataclass(frozen=True)
class _ShardStore:
    """A folder of immutable Parquet shards that together form one table.

    Writers only ever add complete shards (temporary name, then :func:`os.replace`)
    and delete shards whose rows they have already rewritten into a merged one,
    so readers see every row at least once, possibly twice (``key`` deduplicates).
    """

    folder: Path
    columns: tuple[str, ...]
    key: tuple[str, ...]

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("*.parquet")) if self.folder.is_dir() else []

    def read(self) -> pa.Table | None:
        """All rows (duplicates possible), or ``None`` if there are none."""
        tables, _ = self._read_shards()
        return pa.concat_tables(tables) if tables else None

    def append(self, table: pa.Table) -> None:
        """Add ``table`` as a new shard, atomically."""
        shard = self.folder / f"{time.time_ns()}-{uuid.uuid4().hex}.parquet"
        try:
            write_atomic(shard, lambda temporary: pq.write_table(table.select(list(self.columns)), temporary))
        except OSError as error:
            reason = error.strerror or str(error)
            raise CacheError(
                f"cannot write the feature cache in {self.folder}: {reason} "
                "(choose another folder with --cache-dir or CROSSEMO_CACHE_DIR)"
            ) from None

    def compact(self) -> None:
        """Merge all shards into one when there are more than :data:`MAX_SHARDS`."""
        if len(self.shards()) <= MAX_SHARDS:
            return
        tables, merged = self._read_shards()
        if len(merged) < 2:
            return
        frame = pa.concat_tables(tables).to_pandas().drop_duplicates(subset=list(self.key))
        self.append(pa.Table.from_pandas(frame, preserve_index=False))
        for path in merged:  # only after their rows are safely in the new shard
            path.unlink(missing_ok=True)
        self._remove_stale_temporaries()

    def _read_shards(self) -> tuple[list[pa.Table], list[Path]]:
        tables: list[pa.Table] = []
        read: list[Path] = []
        tried: set[Path] = set()
        for _ in range(3):  # a shard merged away while listing: its rows are in a newer shard
            vanished = False
            for path in self.shards():
                if path in tried:
                    continue
                tried.add(path)
                try:
                    tables.append(pq.read_table(path, columns=list(self.columns)))
                    read.append(path)
                except FileNotFoundError:
                    vanished = True
                except (pa.ArrowException, OSError, KeyError) as error:
                    # A cache holds nothing that cannot be recomputed: drop the shard so
                    # the warning is given once, not on every run.
                    warnings.warn(f"removing unreadable cache shard {path}: {error}", stacklevel=2)
                    with contextlib.suppress(OSError):
                        path.unlink()
            if not vanished:
                break
        return tables, read

    def _remove_stale_temporaries(self) -> None:
        cutoff = time.time() - STALE_TEMPORARY_S
        for path in self.folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):  # another writer may just have finished with it
                if path.stat().st_mtime < cutoff:
                    path.unlink()
