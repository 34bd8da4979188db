"""Atomic file writes: readers see the old file or the new one, never a torn one.

Every file crossemo writes goes through here: a temporary file in the target's
folder (same file system, so :func:`os.replace` is atomic), then a rename.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then move the result onto ``path`` atomically.

    The file gets the permissions a plain ``open`` would give (``0o666`` less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_atomic_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomic(path, lambda temporary: temporary.write_bytes(data))


def write_atomic_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_atomic_bytes(path, text.encode("utf-8"))


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` to Parquet at ``path`` atomically."""
    return write_atomic(path, lambda temporary: frame.to_parquet(temporary, index=False))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's content."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_directory_atomic(path: str | os.PathLike[str], fill: Callable[[Path], None]) -> Path:
    """Call ``fill(folder)`` on a fresh folder next to ``path``, then rename it to ``path``.

    A reader never sees a half-written folder.  Whatever is at ``path`` is replaced (set
    aside, the new folder renamed into place, then the old one removed; ``path`` is absent
    only between those two renames), so callers decide beforehand whether replacing is
    allowed.  If ``fill`` raises, the staged folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    os.mkdir(staging)  # mode from the umask, unlike mkdtemp's 0700
    try:
        fill(staging)
        if not path.exists():
            os.rename(staging, path)
            return path
        retired = path.parent / f".{path.name}.{uuid.uuid4().hex}.old"
        os.rename(path, retired)
        try:
            os.rename(staging, path)
        except BaseException:
            os.rename(retired, path)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return path


def _umask() -> int:
    # os.umask can only be read by setting it; put the old value straight back.
    current = os.umask(0)
    os.umask(current)
    return current
