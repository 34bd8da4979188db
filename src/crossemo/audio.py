"""Reading audio robustly: any format soundfile reads, mono mix-down, clear errors.

libsndfile recognises a file by its header, not its name, so AIFF-C content
behind a ``.wav`` name (as in circulating TESS copies) reads like any other file.

A path may also name audio stored as bytes in a cell of a Parquet or Arrow file
(:class:`crossemo.fileio.EmbeddedAudio`, ``<shard>::<column>::<row>``, as Hugging
Face datasets store it): :func:`embedded_audio_bytes` takes the bytes out and
soundfile decodes them from memory, without a temporary file.  The column is
either binary or a struct whose ``bytes`` field holds them (the datasets
``Audio`` feature).  A Parquet shard is read one row group at a time, an Arrow
shard whole; the last few are kept per process (:func:`functools.lru_cache`,
keyed by the file's path, size, inode and modification/change times, so a
rewritten shard is read afresh).
"""

from __future__ import annotations

import bisect
import functools
import io
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import soundfile

from crossemo.errors import CrossemoError
from crossemo.fileio import EmbeddedAudio, embedded_reference, path_to_text

MIN_DURATION_S = 0.25
"""Shortest signal eGeMAPS functionals are computed for: shorter ones give NaN features."""

SILENCE_PEAK = 1e-4
"""Peak amplitude (full scale = 1) below which a recording counts as silent."""


class AudioError(CrossemoError):
    """A recording that cannot be used: unreadable, empty, silent or too short."""


def audio_info(path: str | Path) -> tuple[float, int]:
    """Return ``(duration_s, sample_rate)`` from the header without decoding samples."""
    return _info(_source(path))


def audio_bytes_info(data: bytes) -> tuple[float, int]:
    """:func:`audio_info` of audio held in memory (a file's content)."""
    return _info(io.BytesIO(data))


def _info(source: str | io.BytesIO) -> tuple[float, int]:
    try:
        info = soundfile.info(source)
    except Exception as error:  # libsndfile raises several types for bad headers
        raise AudioError(f"unreadable audio: {_short(error)}") from None
    if info.samplerate <= 0:
        raise AudioError("unreadable audio: no sample rate in header")
    return info.frames / info.samplerate, int(info.samplerate)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read ``path`` as a mono float32 signal in [-1, 1] and its sample rate.

    Channels are averaged.  Raises :class:`AudioError` for files that cannot be
    decoded, hold no samples, are digitally silent or shorter than
    :data:`MIN_DURATION_S`.  ``path`` may be an embedded-audio reference (see the
    module docstring).
    """
    source = _source(path)
    try:
        signal, sample_rate = soundfile.read(source, dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioError(f"unreadable audio: {_short(error)}") from None
    check_signal(signal, sample_rate)
    return signal.mean(axis=1), int(sample_rate)


def check_signal(signal: np.ndarray, sample_rate: int) -> None:
    """Raise :class:`AudioError` if ``signal`` is empty, silent, too short or not finite."""
    if signal.size == 0:
        raise AudioError("empty audio: no samples")
    duration = signal.shape[0] / sample_rate
    if duration < MIN_DURATION_S:
        raise AudioError(f"too short: {duration:.3f} s < {MIN_DURATION_S} s needed for eGeMAPS")
    if not np.all(np.isfinite(signal)):
        raise AudioError("corrupt audio: non-finite samples")
    if float(np.max(np.abs(signal))) < SILENCE_PEAK:
        raise AudioError("silent audio: peak amplitude below -80 dBFS")


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


def embedded_audio_bytes(reference: EmbeddedAudio) -> bytes:
    """The audio bytes of the cell ``reference`` names.

    Raises :class:`AudioError` naming the shard when it cannot be read, lacks the
    column, has no such row, or the cell holds no bytes.
    """
    shard = reference.shard
    where = f"{path_to_text(shard)} row {reference.row}"
    try:
        status = os.stat(shard)
    except OSError as error:
        raise AudioError(f"unreadable audio: {path_to_text(shard)}: {error.strerror or error}") from None
    identity = (status.st_size, status.st_ino, status.st_mtime_ns, status.st_ctime_ns)
    try:
        if shard.lower().endswith(".parquet"):
            starts = _row_group_starts(shard, identity)
            if not 0 <= reference.row < starts[-1]:
                raise AudioError(f"unreadable audio: {where}: the shard has {starts[-1]} rows")
            group = bisect.bisect_right(starts, reference.row) - 1
            cells = _parquet_cells(shard, reference.column, group, identity)
            value = cells[reference.row - starts[group]].as_py()
        else:
            cells = _arrow_cells(shard, reference.column, identity)
            if not 0 <= reference.row < len(cells):
                raise AudioError(f"unreadable audio: {where}: the shard has {len(cells)} rows")
            value = cells[reference.row].as_py()
    except (pa.ArrowException, OSError) as error:
        raise AudioError(f"unreadable audio: {where}: {_short(error)}") from None
    if not value:
        raise AudioError(f"empty audio: {where}: column {reference.column!r} holds no bytes")
    return value


def _source(path: str | Path) -> str | io.BytesIO:
    """What soundfile opens for ``path``: the file's name, or the embedded audio's bytes in memory."""
    reference = embedded_reference(path)
    return str(path) if reference is None else io.BytesIO(embedded_audio_bytes(reference))


@functools.lru_cache(maxsize=8)
def _row_group_starts(shard: str, identity: tuple[int, ...]) -> tuple[int, ...]:
    """First row of each row group of a Parquet file, then its row count: ``(0, n0, n0 + n1, ...)``.

    ``identity`` (size, inode, times) only keys the cache.
    """
    with open(shard, "rb") as handle:  # Python opens it: pyarrow refuses a name that is not UTF-8
        metadata = pq.ParquetFile(handle).metadata
    counts = [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]
    return tuple(np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).tolist())


@functools.lru_cache(maxsize=4)  # readers go through a shard in row order (see fileio.EMBEDDED_ROW_DIGITS)
def _parquet_cells(shard: str, column: str, group: int, identity: tuple[int, ...]) -> pa.ChunkedArray:
    """The audio bytes of one row group of a Parquet file's ``column`` (``identity`` keys the cache)."""
    with open(shard, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        if column not in parquet.schema_arrow.names:  # read_row_group would return no column, not fail
            return _audio_bytes(parquet.schema_arrow.empty_table(), column)
        table = parquet.read_row_group(group, columns=[column])
    return _audio_bytes(table, column)


@functools.lru_cache(maxsize=2)
def _arrow_cells(shard: str, column: str, identity: tuple[int, ...]) -> pa.ChunkedArray:
    """The audio bytes of an Arrow file's ``column``, stream or file format (``identity`` keys the cache)."""
    with open(shard, "rb") as handle:
        try:
            table = pa.ipc.open_stream(handle).read_all()  # what datasets' save_to_disk writes
        except pa.ArrowInvalid:
            handle.seek(0)
            table = pa.ipc.open_file(handle).read_all()
    return _audio_bytes(table, column)


def _audio_bytes(table: pa.Table, column: str) -> pa.ChunkedArray:
    """``column`` of ``table`` as binary: itself, or its struct's ``bytes`` field."""
    if column not in table.column_names:
        raise pa.ArrowInvalid(f"no column {column!r} (columns: {', '.join(table.column_names)})")
    cells = table.column(column)
    if pa.types.is_struct(cells.type):
        if cells.type.get_field_index("bytes") < 0:
            raise pa.ArrowInvalid(f"column {column!r} is a struct without a 'bytes' field")
        cells = pc.struct_field(cells, "bytes")
    if not (pa.types.is_binary(cells.type) or pa.types.is_large_binary(cells.type)):
        raise pa.ArrowInvalid(f"column {column!r} holds {cells.type}, not audio bytes")
    return cells
