"""Which recordings a list of paths names: audio files, folders searched for audio, CSV lists of paths.

Used wherever crossemo takes recordings that are not a corpus (prediction, adapting
to a new domain, benchmarks).  A folder contributes its audio files recursively
(:func:`crossemo.corpora.base.find_files`, so links are followed as for corpora); a
``.csv`` file is a list whose ``path`` column names files relative to its folder
and whose optional ``speaker`` column names who speaks in each (other columns, an
``emotion`` included, are ignored: unlike a corpus manifest it needs no labels).  A
cell is a path as text (:func:`crossemo.fileio.path_to_text`), so the ``path``
column of a ``predict`` CSV lists the same files again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from crossemo.errors import CrossemoError
from crossemo.fileio import path_from_text, path_to_text

Sources = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]
"""One path, or several: files, folders and CSV lists of paths."""

AUDIO_FORMATS: Mapping[str, str] = MappingProxyType(
    {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF", ".mp3": "MP3"}
)
"""File extensions :func:`collect_recordings` looks for in folders, and the soundfile format each needs."""


class RecordingsError(CrossemoError, ValueError):
    """What the paths name is unusable as a whole: a folder without audio, a list without paths."""


def audio_suffixes() -> tuple[str, ...]:
    """Extensions of :data:`AUDIO_FORMATS` whose format the installed soundfile reads."""
    import soundfile

    readable = soundfile.available_formats()
    return tuple(suffix for suffix, audio_format in AUDIO_FORMATS.items() if audio_format in readable)


def collect_recordings(paths: Sources) -> list[str]:
    """The recordings ``paths`` name, in order: files as given, folders searched, CSV lists read.

    A folder contributes its audio files (:func:`audio_suffixes`, any letter case)
    recursively, sorted; a ``.csv`` file contributes the files its ``path`` column
    lists (:func:`read_path_list`).  Files that do not exist are kept, so that their
    caller can report them one by one.  Raises :class:`RecordingsError` for a folder
    without audio or an unusable list.
    """
    return [path for path, _ in collect_speaker_recordings(paths)]


def collect_speaker_recordings(paths: Sources) -> list[tuple[str, str | None]]:
    """The recordings of :func:`collect_recordings`, each with its speaker.

    The speaker is the cell of the optional ``speaker`` column of a CSV list; it is
    ``None`` for a recording of a list without that column or with the cell blank,
    and for files and folders.  Speakers are taken as written: two lists naming the
    same speaker mean the same person.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[tuple[str, str | None]] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            found += [(file, None) for file in folder_recordings(path)]
        elif path.suffix.lower() == ".csv" and path.is_file():
            found += read_speaker_list(path)
        else:
            found.append((str(path), None))
    return found


def folder_recordings(folder: Path) -> list[str]:
    """Audio files under ``folder``, sorted; :class:`RecordingsError` if there are none."""
    from crossemo.corpora.base import find_files

    suffixes = audio_suffixes()
    found = find_files(folder, suffix=suffixes)  # str.endswith takes a tuple of suffixes
    if not found:
        raise RecordingsError(f"no audio files ({', '.join(suffixes)}) under {path_to_text(folder)}")
    return [str(path) for path in found]


def read_path_list(csv_path: Path) -> list[str]:
    """The absolute paths a CSV's ``path`` column lists (relative ones are relative to its folder)."""
    return [path for path, _ in read_speaker_list(csv_path)]


def read_speaker_list(csv_path: Path) -> list[tuple[str, str | None]]:
    """The paths of :func:`read_path_list`, each with its cell of the optional ``speaker`` column (blank: ``None``)."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise RecordingsError(f"list of recordings {csv_path} is not a readable CSV: {error}") from None
    columns = {str(column).strip().lower(): column for column in table.columns}
    if "path" not in columns:
        raise RecordingsError(
            f"list of recordings {csv_path} has no 'path' column (has: {', '.join(map(str, table.columns))})"
        )
    cells = [cell.strip() for cell in table[columns["path"]]]
    blank = [number for number, cell in enumerate(cells, start=2) if not cell]  # line 1 is the header
    if blank:
        raise RecordingsError(f"list of recordings {csv_path}: empty path on line(s) {', '.join(map(str, blank[:5]))}")
    root = csv_path.resolve().parent
    paths = [str(root / path_from_text(cell).replace("\\", "/")) for cell in cells]
    speaker_cells = [cell.strip() for cell in table[columns["speaker"]]] if "speaker" in columns else [""] * len(cells)
    return [(path, speaker or None) for path, speaker in zip(paths, speaker_cells, strict=True)]


def describe_sources(paths: Sources) -> str:
    """A short name for ``paths`` in messages and records: the one path (as text), or how many there are."""
    if isinstance(paths, (str, os.PathLike)):
        return path_to_text(paths)
    listed = [path_to_text(path) for path in paths]
    return listed[0] if len(listed) == 1 else f"{len(listed)} paths"
