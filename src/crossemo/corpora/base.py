"""What every corpus reader returns, and the directory scan they share.

A reader turns a directory in its distributed layout into one table with the
columns of :data:`COLUMNS`, one row per utterance.  ``path`` is relative to the
corpus root (POSIX separators); the absolute root is kept in
``table.attrs["root"]`` and files the reader passed over, with their reason, in
``table.attrs["skipped"]`` (a list of ``{"path", "reason"}`` dicts).  Every path
in a table is text (:func:`crossemo.fileio.path_to_text`): a name with
undecodable bytes, a newline or a quote is kept, escaped reversibly.

``group`` is the unit that must never be split between the training and the
test side of speaker-independent folds: the speaker by default, the session
for IEMOCAP (whose two speakers of a session share dialogs).  The evaluation
protocols read only this column, never the corpus name.

Readers of directory corpora only supply a *parser*: a function from an
audio file's path (relative to the root; any extension of :func:`audio_suffixes`)
to :class:`Utterance` facts, to a reason string (the file follows the corpus'
naming scheme but is left out), or to ``None`` (the name is not the corpus'
scheme).  :func:`scan_directory` does the rest: finding files, reading
durations from headers, recording skips, sorting, and raising one clear
:class:`~crossemo.errors.CorpusLayoutError` naming the expected layout when
nothing usable is found.

Every reader module states ``NAME`` (its registry name), ``TITLE`` (the
corpus' human name), ``LANGUAGE`` (ISO code written in every row, or ``None``
with a ``LANGUAGE_NOTE`` when it varies per utterance) and ``LAYOUT`` (the
expected naming scheme on one line, with an example).
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import NamedTuple

import pandas as pd
import soundfile

from crossemo.audio import AudioError, audio_info
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import openable_path, path_to_text

LABELS: tuple[str, ...] = ("neutral", "sad", "happy", "angry")
"""The four-class task, in the paper's order.  The three-class task drops neutral."""

COLUMNS: tuple[str, ...] = (
    "path",
    "corpus",
    "language",
    "speaker",
    "gender",
    "emotion",
    "label",
    "group",
    "duration_s",
)

GENDER_WORDS: Mapping[str, str] = MappingProxyType({"female": "female", "f": "female", "male": "male", "m": "male"})
"""Gender as corpora's side tables write it (lower case) -> the table's ``gender``."""

_OPENING_PREFIX = re.compile(r"Error opening '.*': ")  # greedy: the name may hold "': " itself

AUDIO_FORMATS: Mapping[str, str] = MappingProxyType({".wav": "WAV", ".aiff": "AIFF", ".aif": "AIFF", ".flac": "FLAC"})
"""Extensions corpora are distributed with -> the soundfile format each needs."""


class Utterance(NamedTuple):
    """What a file name (and its folders) says about one recording.

    ``group`` is the fold group (see the module docstring); ``None`` means the speaker.
    ``language`` is this utterance's ISO code when the corpus mixes languages;
    ``None`` means the corpus' language.
    """

    speaker: str
    gender: str | None
    emotion: str
    label: str | None
    group: str | None = None
    language: str | None = None


Parser = Callable[[PurePosixPath], "Utterance | str | None"]
"""Relative path -> facts, a reason to leave the file out, or ``None`` (not this scheme)."""


def corpus_root(path: str | os.PathLike[str], *, title: str) -> Path:
    """Return ``path`` as an absolute directory, or raise a clear error naming ``title``."""
    root = Path(path).expanduser()
    if not root.exists():
        raise CorpusLayoutError(f"{title} folder not found: {path_to_text(root)}")
    if not root.is_dir():
        raise CorpusLayoutError(f"{title} expects a folder, got a file: {path_to_text(root)}")
    return root.resolve()


def audio_suffixes() -> tuple[str, ...]:
    """Extensions of :data:`AUDIO_FORMATS` whose format the installed soundfile reads, lower case."""
    readable = soundfile.available_formats()
    return tuple(suffix for suffix, audio_format in AUDIO_FORMATS.items() if audio_format in readable)


def find_files(root: Path, *, suffix: str | tuple[str, ...] | None = None) -> list[Path]:
    """All files under ``root`` whose extension is ``suffix`` (or one of them) in any case, sorted.

    ``suffix`` is lower case; ``None`` means every audio extension (:func:`audio_suffixes`).

    Symbolic links to folders are followed once (corpora are often assembled
    from links); a link back into a visited folder is not entered again.
    """
    suffixes = audio_suffixes() if suffix is None else suffix
    found: list[Path] = []
    visited: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:
            subfolders.clear()
            continue
        visited.add(real)
        found.extend(Path(folder, name) for name in files if name.lower().endswith(suffixes))
    return sorted(found)


def find_side_files(root: Path, name: str) -> list[Path]:
    """Files under ``root`` named ``name`` in any letter case, nearest to ``root`` first.

    Side files are the tables some corpora ship beside their audio (nEMO's
    ``data.tsv``, CREMA-D's ``VideoDemographics.csv``); macOS ``._`` forks are left out.
    """
    matches = [
        file
        for file in find_files(root, suffix=PurePosixPath(name).suffix.lower())
        if file.name.lower() == name.lower()
    ]
    return sorted(matches, key=lambda file: (len(file.relative_to(root).parts), file))


def read_side_table(
    file: Path, *, title: str, separator: str, required: tuple[str, ...], quoted: bool = True
) -> pd.DataFrame:
    """A corpus' side table as text cells, header names stripped, with the ``required`` columns.

    ``quoted=False`` takes quote characters literally (transcripts hold them
    unpaired).  Cells are stripped of surrounding spaces (nEMO's speaker ids
    carry leading ones) and empty cells are ``""``.  Raises
    :class:`~crossemo.errors.CorpusLayoutError` naming the file when it cannot
    be parsed or lacks a required column.
    """
    try:
        with warnings.catch_warnings():
            # a row longer than the header would otherwise shift or drop cells silently
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                file, sep=separator, dtype=str, keep_default_na=False, encoding="utf-8", index_col=False,
                quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
            )
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError) as error:
        raise CorpusLayoutError(f"cannot read {title} file {path_to_text(file)}: {error}") from None
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise CorpusLayoutError(
            f"{title} file {path_to_text(file)} lacks the column(s) {', '.join(missing)}: "
            f"expected {', '.join(required)} in its header, found {', '.join(table.columns) or 'none'}"
        )
    return table.apply(lambda column: column.str.strip())


def relative_posix(path: Path, root: Path) -> PurePosixPath:
    """``path`` relative to ``root`` with POSIX separators, as text (:func:`path_to_text`)."""
    return PurePosixPath(path_to_text(path.relative_to(root).as_posix()))


def scan_directory(
    path: str | os.PathLike[str],
    *,
    corpus: str,
    title: str,
    language: str | None,
    expected: str,
    parse: Parser,
) -> pd.DataFrame:
    """Read every audio file under ``path`` (:func:`find_files`) with ``parse`` into a corpus table.

    ``corpus`` is the registry name written in each row, ``title`` the corpus'
    human name used in messages, ``expected`` a one-line description of the
    naming scheme for the error raised when no file matches it.  ``language``
    is written in each row whose :class:`Utterance` names none.  Durations come
    from the headers (:func:`crossemo.audio.audio_info`); unreadable files are
    skipped with the reason.
    """
    root = corpus_root(path, title=title)
    rows: list[dict[str, object]] = []
    skipped: list[dict[str, str]] = []
    candidates: list[dict[str, str]] = []  # skips of files that follow the naming scheme
    for file in find_files(root):
        relative = relative_posix(file, root)
        if relative.name.startswith("._"):
            skipped.append(skip(relative, "macOS resource-fork file (._ prefix), not audio"))
            continue
        parsed = parse(relative)
        if parsed is None:
            skipped.append(skip(relative, f"name does not follow the {title} scheme {expected}"))
            continue
        if isinstance(parsed, str):
            candidates.append(skip(relative, parsed))
            continue
        try:
            duration_s, _ = file_audio_info(file)
        except AudioError as error:
            candidates.append(skip(relative, audio_reason(error)))
            continue
        rows.append(
            {
                "path": str(relative),
                "corpus": corpus,
                **parsed._asdict(),
                "language": parsed.language if parsed.language is not None else language,
                "group": parsed.group if parsed.group is not None else parsed.speaker,
                "duration_s": duration_s,
            }
        )
    if not rows:
        raise empty_corpus_error(
            title=title, root=root, expected=expected, candidates=candidates, others=len(skipped)
        )
    return make_table(rows, root=root, skipped=skipped + candidates)


def file_audio_info(file: Path) -> tuple[float, int]:
    """:func:`crossemo.audio.audio_info` of any file the file system names (see :func:`openable_path`)."""
    with openable_path(file) as name:
        return audio_info(name)


def skip(path: PurePosixPath | str, reason: str) -> dict[str, str]:
    """One entry of ``table.attrs["skipped"]`` (``path`` already as text)."""
    return {"path": str(path), "reason": reason}


def audio_reason(error: AudioError) -> str:
    """An audio error as a skip reason, without libsndfile's "Error opening '<path>': " prefix.

    The path is already the skip entry's key; dropping it lets equal reasons be counted together.

    >>> audio_reason(AudioError("unreadable audio: Error opening '/a/b.wav': Format not recognised."))
    'unreadable audio: Format not recognised.'
    """
    return _OPENING_PREFIX.sub("", str(error))


def empty_corpus_error(
    *, title: str, root: Path, expected: str, candidates: list[dict[str, str]], others: int
) -> CorpusLayoutError:
    """The error for a folder that yields no usable utterance, saying why.

    ``candidates`` are the skip entries of files that followed the naming
    scheme, ``others`` the number of files that did not.
    """
    if not candidates:
        found = f" ({others} audio files with other names)" if others else ""
        return CorpusLayoutError(f"no {title} files found under {path_to_text(root)}{found}: expected {expected}")
    reasons = Counter(entry["reason"] for entry in candidates).most_common()
    listed = "; ".join(f"{count} x {reason}" for reason, count in reasons[:3])
    more = f"; and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    return CorpusLayoutError(
        f"no usable {title} files under {path_to_text(root)}: all {len(candidates)} candidate files were skipped ({listed}{more})"
    )


def make_table(
    rows: list[Mapping[str, object]], *, root: Path, skipped: list[dict[str, str]]
) -> pd.DataFrame:
    """Rows -> a table with exactly :data:`COLUMNS`, sorted by path, attrs set.

    A row without a ``group`` (or with an empty one) gets its speaker as group.
    """
    table = pd.DataFrame(list(rows), columns=list(COLUMNS))
    table["group"] = table["group"].astype(object).where(table["group"].notna(), table["speaker"])
    table = table.sort_values("path", kind="stable", ignore_index=True)
    table["duration_s"] = table["duration_s"].astype(float)
    for column in ("gender", "label"):  # keep missing values as None, not NaN
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    table.attrs["root"] = path_to_text(root)
    table.attrs["skipped"] = sorted(skipped, key=lambda entry: entry["path"])
    return table
