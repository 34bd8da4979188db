"""Atomic file writes, and paths as text.

Every file crossemo writes goes through here: a temporary file in the target's
folder (same file system, so :func:`os.replace` is atomic), then a rename.
Readers see the old file or the new one, never a torn one.

Paths are handled as the file system gives them: a ``str`` whose undecodable
bytes are lone surrogates (PEP 383, what :func:`os.listdir` returns for a name
that is not UTF-8).  Such a string cannot be written as UTF-8, so wherever a path
becomes data (a table column, a cache key, CSV, JSON, HTML, a message) it is
written as :func:`path_to_text`, and :func:`path_from_text` turns such text (a
table read back, a manifest cell) into the path again, exactly.

Audio stored inside a table file (a Hugging Face dataset's Parquet or Arrow shard)
is named by a path too, an :class:`EmbeddedAudio` reference
``<shard>::<column>::<row>`` (:func:`embedded_path`, :func:`embedded_reference`),
so that tables, caches and messages treat it like any other recording.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pandas as pd

_ESCAPED = "[\\x00-\\x1f\\x7f\\ud800-\\udfff]"
# Control characters and surrogates (undecodable bytes): what path_to_text writes as \xNN.
_ESCAPE_HEX = "x(?:[01][0-9a-fA-F]|7[fF]|[89a-fA-F][0-9a-fA-F])"
# "xNN" for exactly the codes path_to_text writes as \xNN.
_TO_TEXT = re.compile(f"\\\\(?=\\\\|{_ESCAPED}|{_ESCAPE_HEX})|{_ESCAPED}")
_FROM_TEXT = re.compile(f"\\\\(\\\\|{_ESCAPE_HEX})")
_EMBEDDED = re.compile(r"(?P<shard>.+\.(?:parquet|arrow))::(?P<column>.+)::(?P<row>[0-9]+)", re.DOTALL)
EMBEDDED_SEPARATOR = "::"
"""Separates an :class:`EmbeddedAudio` reference's shard, column and row."""
EMBEDDED_ROW_DIGITS = 6
"""Rows are written with at least this many digits, so that sorting paths as text keeps a shard's rows in order."""


def check_new_file(path: str | os.PathLike[str], *, force: bool, option: str, kind: str = "file",
                   error: type[Exception] | None = None, another: str | None = None) -> Path:
    """``path`` (user-expanded) if a new file may be written there, checked before any work.

    Refuses (``error``, default :class:`~crossemo.errors.CrossemoError`) a folder, and an
    existing file unless ``force``; the messages name the command-line ``option`` and
    what to choose instead (``another``, default the option).
    """
    from crossemo.errors import CrossemoError

    error = error or CrossemoError
    target = Path(path).expanduser()
    if target.is_dir():
        raise error(f"{path_to_text(target)} is a folder; {option} names the {kind} to write")
    if target.exists() and not force:
        raise error(f"{path_to_text(target)} exists; choose another {another or option} or pass --force to replace it")
    return target


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

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:  # Python opens it: pyarrow refuses a name that is not UTF-8
            frame.to_parquet(handle, index=False)

    return write_atomic(path, write)


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


def path_to_text(path: str | os.PathLike[str]) -> str:
    r"""``path`` as printable UTF-8 text on one line, which :func:`path_from_text` turns back into it.

    A name of valid UTF-8 without control characters is unchanged.  An undecodable byte
    becomes ``\xNN`` (``NN`` from 80), a control character ``\xNN`` (below 20, or 7f),
    and a backslash that would otherwise read as the start of such an escape is doubled.

    >>> path_to_text("Actor_01/\udcff.wav"), path_to_text("a\nb.wav"), path_to_text("café 'x'.wav")
    ('Actor_01/\\xff.wav', 'a\\x0ab.wav', "café 'x'.wav")
    >>> all(path_from_text(path_to_text(name)) == name for name in ["\\xff\udcff", "\\\\\n", "a\\b"])
    True
    """
    return _TO_TEXT.sub(_escape, os.fspath(path))


def path_from_text(text: str) -> str:
    r"""The path :func:`path_to_text` wrote as ``text``; text without its escapes is returned unchanged.

    >>> path_from_text("Actor_01/\\xff.wav") == "Actor_01/\udcff.wav"
    True
    """
    return _FROM_TEXT.sub(_unescape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == ord("\\"):
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the undecodable byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return "\ufffd"  # a lone surrogate that no file system gives: part of no real path


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(1)
    if escape == "\\":
        return "\\"
    code = int(escape[1:], 16)
    return chr(code) if code < 0x80 else chr(0xDC00 + code)


class EmbeddedAudio(NamedTuple):
    """Audio held in one cell of a table file: row ``row`` (from 0) of ``column`` in ``shard``."""

    shard: str
    column: str
    row: int


def embedded_path(shard: str | os.PathLike[str], column: str, row: int) -> str:
    """The path naming the audio in row ``row`` (from 0) of ``column`` of the Parquet or Arrow file ``shard``.

    >>> embedded_path("data/train-00000-of-00001.parquet", "audio", 12)
    'data/train-00000-of-00001.parquet::audio::000012'
    >>> embedded_reference(embedded_path("/d/x.arrow", "audio", 3))
    EmbeddedAudio(shard='/d/x.arrow', column='audio', row=3)
    """
    return EMBEDDED_SEPARATOR.join((os.fspath(shard), column, f"{int(row):0{EMBEDDED_ROW_DIGITS}d}"))


def embedded_reference(path: str | os.PathLike[str]) -> EmbeddedAudio | None:
    """The :class:`EmbeddedAudio` that ``path`` names, or ``None`` for a path of a file.

    A reference is ``<shard>::<column>::<row>`` where ``shard`` ends in ``.parquet``
    or ``.arrow`` and ``row`` is a decimal number (leading zeros allowed); a file
    that exists under such a name is a file.

    >>> embedded_reference("clips/a.wav") is None, embedded_reference("a.parquet::audio::x") is None
    (True, True)
    """
    if not isinstance(path, str | os.PathLike):
        return None
    name = os.fspath(path)
    match = _EMBEDDED.fullmatch(name)
    if match is None or os.path.lexists(name):
        return None
    return EmbeddedAudio(match["shard"], match["column"], int(match["row"]))


@contextlib.contextmanager
def openable_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """``path`` as a name any library opens: itself, or a link to it with a UTF-8 name.

    Libraries that encode a ``str`` path strictly as UTF-8 (libsndfile through
    soundfile) cannot open a name with undecodable bytes; for such a name a symbolic
    link in a private temporary folder stands in while the block runs.  An
    :class:`EmbeddedAudio` reference is passed on unchanged: its shard is opened by Python.
    """
    name = os.fspath(path)
    if embedded_reference(name) is not None:
        yield name
        return
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        yield name
        return
    with tempfile.TemporaryDirectory(prefix="crossemo-link-") as folder:
        link = os.path.join(folder, "link" + os.path.splitext(path_to_text(name))[1].replace("\\", "_"))
        try:
            os.symlink(os.path.abspath(name), link)
        except OSError:
            link = name  # no links on this file system: the library then reports the file unreadable
        yield link
