"""The content-hashed Parquet feature cache.

The cache lives under :func:`default_cache_dir`::

    features/<extractor id>-<extractor version>/<shard>.parquet   sha256 + feature columns
    file-hashes/<shard>.parquet                                   path, size, m/ctime_ns -> sha256

Results are keyed by the SHA-256 of the file's content, so a renamed or copied
file is not recomputed and a changed one is; and by the extractor's id and
version (:func:`feature_cache_dir`), so extractors never read each other's values
and a new openSMILE release starts afresh.  The second folder only saves
rehashing files whose path, size and modification/change times are unchanged.  Audio
stored as bytes in a Parquet or Arrow shard (:class:`crossemo.fileio.EmbeddedAudio`)
is keyed by the SHA-256 of those bytes, so that it shares its cache entries with the
same audio as a file; its hash is remembered under the reference and its shard's
size and times.  Each
folder is a set of immutable shards (:class:`ShardStore`): every finished batch of
files is written at once as a new shard (temporary name, then :func:`os.replace`),
so an interrupted run keeps what it finished and concurrent runs never corrupt
each other; when shards pile up they are merged into one.  Files that fail are
never cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crossemo.audio import AudioError, embedded_audio_bytes
from crossemo.errors import CrossemoError
from crossemo.features.extractors import DEFAULT_EXTRACTOR, FeatureExtractor, FeatureSet, as_extractor
from crossemo.fileio import embedded_reference, file_sha256, path_to_text, write_atomic

MAX_SHARDS = 16
"""A cache folder holding more shards than this is merged into one after a run."""

STALE_TEMPORARY_S = 24 * 3600
"""Age after which a temporary shard (left by a killed writer) is deleted when merging."""

SHA256 = "sha256"

HASH_SCHEMA = pa.schema(
    [("path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64()), ("ctime_ns", pa.int64()),
     (SHA256, pa.string())]
)
"""Columns of the file-hash shards (``path`` as :func:`crossemo.fileio.path_to_text` writes it).
ctime too: unlike mtime it cannot be set back (cp -p, touch), and it changes on every write."""


class CacheError(CrossemoError, OSError):
    """The feature cache folder cannot be written (permissions, a file in the way, a full disk)."""


def default_cache_dir() -> Path:
    """``$CROSSEMO_CACHE_DIR``, else ``$XDG_CACHE_HOME/crossemo``, else ``~/.cache/crossemo``."""
    if os.environ.get("CROSSEMO_CACHE_DIR"):
        return Path(os.environ["CROSSEMO_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "crossemo"
    return Path.home() / ".cache" / "crossemo"


def cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir`` as a path, or :func:`default_cache_dir` when ``None``."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def feature_cache_dir(
    cache_dir: str | os.PathLike[str] | None = None,
    feature_set: str | FeatureSet | FeatureExtractor = DEFAULT_EXTRACTOR,
) -> Path:
    """Folder of the cached features of one extractor id and version: ``features/<id>-<version>``."""
    extractor = as_extractor(feature_set)
    return cache_root(cache_dir) / "features" / f"{extractor.id}-{safe_name(extractor.version)}"


def safe_name(text: str) -> str:
    """``text`` usable as (part of) a folder name; if that changed it, a digest keeps it distinct."""
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", text)
    if safe == text:
        return text
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class FeatureCache:
    """The cached features of one extractor and the file hashes, under one cache root."""

    root: Path
    extractor: FeatureExtractor

    @classmethod
    def open(cls, cache_dir: str | os.PathLike[str] | None, extractor: FeatureExtractor) -> FeatureCache:
        return cls(cache_root(cache_dir), extractor)

    @property
    def hashes(self) -> ShardStore:
        return ShardStore(self.root / "file-hashes", HASH_SCHEMA, key=tuple(HASH_SCHEMA.names[:-1]), finite=False)

    @property
    def features(self) -> ShardStore:
        value_type = pa.from_numpy_dtype(np.dtype(self.extractor.dtype))
        schema = pa.schema([(SHA256, pa.string()), *((name, value_type) for name in self.extractor.feature_names)])
        return ShardStore(feature_cache_dir(self.root, self.extractor), schema, key=(SHA256,), finite=True)

    def content_hashes(self, files: Sequence[str]) -> tuple[dict[str, str], dict[str, int], dict[str, str]]:
        """SHA-256 per readable file (reusing known hashes of unchanged files), sizes, and failures.

        For embedded audio the SHA-256 is that of its bytes and the size that of its shard.
        """
        store = self.hashes
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
            reference = embedded_reference(file)
            try:
                status = os.stat(file if reference is None else reference.shard)
                if not stat.S_ISREG(status.st_mode):
                    failures[file] = "unreadable audio: not a regular file"
                    continue
                # The path as text: a name with undecodable bytes is no valid Arrow string.
                signature = (path_to_text(file), status.st_size, status.st_mtime_ns, status.st_ctime_ns)
                digest = known.get(signature)
                if digest is None:
                    digest = file_sha256(file) if reference is None else _sha256(embedded_audio_bytes(reference))
                    new.append((*signature, digest))
            except OSError as error:
                failures[file] = f"unreadable audio: {error.strerror or error}"
                continue
            except AudioError as error:
                failures[file] = str(error)
                continue
            hashes[file] = digest
            sizes[file] = status.st_size
        if new:
            store.append(pa.table(dict(zip(store.columns, map(list, zip(*new))))))
            store.compact()
        return hashes, sizes, failures

    def read(self, digests: Iterable[str]) -> pd.DataFrame:
        """The cached feature vectors of those of ``digests`` that have one, index sha256 (distinct)."""
        wanted = pa.array(list(set(digests)), type=pa.string())
        # Filtered shard by shard: memory follows the rows asked for, not the cache's size.
        table = self.features.read(rows=lambda shard: pc.is_in(shard.column(SHA256), value_set=wanted))
        if table is None:
            return self.empty()
        frame = table.to_pandas().set_index(SHA256)
        return frame.loc[~frame.index.duplicated()]

    def write(self, frame: pd.DataFrame) -> None:
        """Add feature vectors (index sha256, columns the feature names) as one shard."""
        self.features.append(pa.Table.from_pandas(frame.rename_axis(SHA256).reset_index(), preserve_index=False))

    def compact(self) -> None:
        """Merge the feature shards if they have piled up."""
        self.features.compact()

    def empty(self) -> pd.DataFrame:
        """No feature vectors, with the columns and dtype of real ones."""
        return pd.DataFrame(
            columns=list(self.extractor.feature_names),
            index=pd.Index([], name=SHA256, dtype=object),
            dtype=self.extractor.dtype,
        )


@dataclass(frozen=True)
class ShardStore:
    """A folder of immutable Parquet shards that together form one table of a fixed ``schema``.

    Writers only ever add complete shards (temporary name, then :func:`os.replace`)
    and delete shards whose rows they have already rewritten into a merged one,
    so readers see every row at least once, possibly twice (``key`` deduplicates).
    Every shard is cast to ``schema`` when written and when read, so shards written
    with other but compatible types (``large_string`` for ``string``, as pandas'
    string columns convert to) still read as one table.  Rows no writer of this
    store writes (a null anywhere; with ``finite``, a NaN or infinite value, as
    failed files are never cached) are dropped when read, and a shard that cannot
    be read or cast is removed with a warning: its rows are recomputed.
    """

    folder: Path
    schema: pa.Schema
    key: tuple[str, ...]
    finite: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("*.parquet")) if self.folder.is_dir() else []

    def read(self, *, rows: Callable[[pa.Table], pa.Array] | None = None) -> pa.Table | None:
        """All rows (duplicates possible), or ``None`` if there are none.

        ``rows`` maps each shard to a boolean mask of the rows to keep, applied as the
        shard is read, so only those rows are ever held together.
        """
        tables, _ = self._read_shards(rows)
        return pa.concat_tables(tables) if tables else None

    def append(self, table: pa.Table) -> None:
        """Add ``table`` (cast to the schema) as a new shard, atomically."""
        table = self._conform(table)
        shard = self.folder / f"{time.time_ns()}-{uuid.uuid4().hex}.parquet"
        try:
            write_atomic(shard, lambda temporary: _write_table(table, temporary))
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
        table = pa.concat_tables(tables)
        duplicate = table.select(list(self.key)).to_pandas().duplicated().to_numpy()
        self.append(table.filter(pa.array(~duplicate)))
        for path in merged:  # only after their rows are safely in the new shard
            path.unlink(missing_ok=True)
        self._remove_stale_temporaries()

    def _conform(self, table: pa.Table) -> pa.Table:
        """``table``'s columns of the schema, in its order and of its types (no metadata)."""
        return table.select(list(self.columns)).cast(self.schema)

    def _valid_rows(self, table: pa.Table) -> pa.Table:
        """The rows of a conformed shard that a writer of this store could have written."""
        keep = None
        for column in table.columns:
            valid = pc.is_valid(column)
            if self.finite and pa.types.is_floating(column.type):
                valid = pc.and_kleene(valid, pc.is_finite(column))
            keep = valid if keep is None else pc.and_kleene(keep, valid)
        if keep is None or pc.all(keep).as_py() is not False:
            return table
        return table.filter(keep)

    def _read_shards(self, rows: Callable[[pa.Table], pa.Array] | None = None) -> tuple[list[pa.Table], list[Path]]:
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
                    with open(path, "rb") as handle:  # Python opens it: pyarrow refuses a name that is not UTF-8
                        table = pq.read_table(handle, columns=list(self.columns))
                    table = self._valid_rows(self._conform(table))
                    tables.append(table if rows is None else table.filter(rows(table)))
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


def _sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``, as :func:`crossemo.fileio.file_sha256` gives for a file holding them."""
    return hashlib.sha256(data).hexdigest()


def _write_table(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as handle:  # Python opens it: pyarrow refuses a name that is not UTF-8
        pq.write_table(table, handle)
