"""Any other corpus, described by a CSV manifest.

The CSV needs the columns ``path`` (relative to the CSV's folder; absolute
paths are accepted and made relative; a name that is not UTF-8 is written as
:func:`crossemo.fileio.path_to_text` writes it, ``\\xNN`` per byte) and ``emotion``.  Optional columns:
``speaker`` (default ``"unknown"``), ``group`` (the unit speaker-independent
folds never split, e.g. a recording session; default: the speaker), ``gender`` (``female``/``f``/``male``/``m``,
any case, or empty), ``language`` (ISO code, default missing), ``label`` (one
of :data:`~crossemo.corpora.base.LABELS` or empty) and ``corpus`` (default
``"manifest"``).  Other columns are ignored; header names are matched without
regard to case or surrounding spaces.

The four-class label of a row is its non-empty ``label`` cell if the column
exists, otherwise its emotion looked up in :data:`EMOTION_LABELS`; emotions not
in that table stay unlabelled.  Listed files that are missing or unreadable
are skipped with their reason.  The table's root is the CSV's folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from crossemo.audio import AudioError
from crossemo.corpora.base import LABELS, audio_reason, empty_corpus_error, file_audio_info, make_table, skip
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import path_from_text, path_to_text

NAME = "manifest"
TITLE = "manifest"
LANGUAGE = None
LANGUAGE_NOTE = "per row (its language column)"
LAYOUT = "a CSV with columns path (relative to the CSV) and emotion, optional speaker, gender, language, label"
"""The expected layout (``scan --list``, layout errors)."""
DEFAULT_FILE_NAME = "manifest.csv"
"""Looked for when the manifest reader is given a folder instead of a CSV file."""

REQUIRED_COLUMNS = ("path", "emotion")
OPTIONAL_COLUMNS = ("speaker", "group", "gender", "language", "label", "corpus")
DEFAULT_SPEAKER = "unknown"

EMOTION_LABELS: dict[str, str] = {
    "neutral": "neutral",
    "neu": "neutral",
    "sad": "sad",
    "sadness": "sad",
    "happy": "happy",
    "happiness": "happy",
    "hap": "happy",
    "joy": "happy",
    # IEMOCAP's "excited" is merged into happy in the standard four-class set.
    "exc": "happy",
    "excited": "happy",
    "angry": "angry",
    "anger": "angry",
    "ang": "angry",
    "mad": "angry",
}
"""The one synonym table: emotion (lower case) -> four-class label.

Deliberately absent, so they stay unlabelled: calm (not neutral: RAVDESS keeps
them apart), boredom, frustration, and every other emotion.
"""

GENDERS = {"female": "female", "f": "female", "male": "male", "m": "male"}


def emotion_label(emotion: str | None) -> str | None:
    """The four-class label an emotion word maps to, or ``None``.

    >>> emotion_label("Anger"), emotion_label("exc"), emotion_label("calm")
    ('angry', 'happy', None)
    """
    if emotion is None:
        return None
    return EMOTION_LABELS.get(emotion.strip().lower())


def manifest_file(path: str | os.PathLike[str]) -> Path:
    """The CSV to read: ``path`` itself, or ``path/manifest.csv`` for a folder."""
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        candidate = candidate / DEFAULT_FILE_NAME
        if not candidate.is_file():
            raise CorpusLayoutError(f"no {DEFAULT_FILE_NAME} in folder {Path(path)}: give the manifest CSV itself")
    if not candidate.is_file():
        raise CorpusLayoutError(f"manifest file not found: {candidate}")
    return candidate.resolve()


def read(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV manifest into a corpus table (see :mod:`crossemo.corpora.base`)."""
    csv_path = manifest_file(path)
    root = csv_path.parent
    records = _load(csv_path)
    labels = _validated(records, "label", {label: label for label in LABELS}, csv_path)
    genders = _validated(records, "gender", GENDERS, csv_path)
    rows: list[dict[str, object]] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for number, record in enumerate(records, start=2):  # line 1 is the header
        relative = _relative_path(record["path"], root)
        if relative is None:
            skipped.append(skip(f"line {number}", "empty path"))
            continue
        file = root / relative
        relative = path_to_text(relative)
        if relative in seen:
            skipped.append(skip(relative, "listed more than once; the first listing is kept"))
            continue
        seen.add(relative)
        if not file.is_file():
            skipped.append(skip(relative, "listed in the manifest but not found"))
            continue
        try:
            duration_s, _ = file_audio_info(file)
        except AudioError as error:
            skipped.append(skip(relative, audio_reason(error)))
            continue
        emotion = record["emotion"].lower() or None
        speaker = record.get("speaker") or DEFAULT_SPEAKER
        rows.append(
            {
                "path": relative,
                "corpus": record.get("corpus") or NAME,
                "language": record.get("language") or None,
                "speaker": speaker,
                "gender": genders[number - 2],
                "emotion": emotion,
                "label": labels[number - 2] or emotion_label(emotion),
                "group": record.get("group") or speaker,
                "duration_s": duration_s,
            }
        )
    if not rows:
        raise empty_corpus_error(
            title=TITLE,
            root=root,
            expected=LAYOUT,
            candidates=skipped,
            others=0,
        )
    return make_table(rows, root=root, skipped=skipped)


def _load(csv_path: Path) -> list[dict[str, str]]:
    """The manifest's rows as dicts of stripped strings, headers lower-cased, checked."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise CorpusLayoutError(f"manifest {csv_path} is not a readable CSV: {error}") from None
    columns = [str(column).strip().lower() for column in table.columns]
    duplicated = sorted({column for column in columns if columns.count(column) > 1})
    if duplicated:
        raise CorpusLayoutError(f"manifest {csv_path} repeats columns: {', '.join(duplicated)}")
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise CorpusLayoutError(
            f"manifest {csv_path} lacks required columns: {', '.join(missing)} "
            f"(has: {', '.join(columns) or 'none'})"
        )
    table.columns = columns
    if table.empty:
        raise CorpusLayoutError(f"manifest {csv_path} lists no files")
    wanted = [column for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if column in columns]
    return [
        {column: str(value).strip() for column, value in record.items()}
        for record in table[wanted].to_dict(orient="records")
    ]


def _validated(
    records: list[dict[str, str]], column: str, allowed: dict[str, str], csv_path: Path
) -> list[str | None]:
    """Normalized values of an optional column (``None`` for empty cells or no column).

    Values are looked up in ``allowed`` without regard to case; any other
    value fails the whole manifest with an error naming the bad values.
    """
    values = [record.get(column, "").lower() for record in records]
    bad = sorted({value for value in values if value and value not in allowed})
    if bad:
        raise CorpusLayoutError(
            f"manifest {csv_path}: bad {column} values {', '.join(map(repr, bad))}; "
            f"allowed: {', '.join(sorted(set(allowed)))} or empty"
        )
    return [allowed[value] if value else None for value in values]


def _relative_path(value: str, root: Path) -> str | None:
    """A manifest path cell (text, see :func:`path_from_text`) as a normalized POSIX path relative to ``root``."""
    if not value:
        return None
    path = Path(path_from_text(value).replace("\\", "/"))
    absolute = path if path.is_absolute() else root / path
    return Path(os.path.relpath(os.path.normpath(absolute), root)).as_posix()
