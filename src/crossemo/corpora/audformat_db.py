"""audformat databases (the format of audEERING's ``audb``) as corpora.

``path`` is a database folder: its ``db.yaml`` and the tables beside it, with
the audio files at the paths the tables list, relative to that folder (as
``audformat.Database.save`` writes a database and ``audb.load`` or
``audb.load_to`` lays one out).  The database is loaded with
:meth:`audformat.Database.load` (the ``corpora`` extra of crossemo installs
``audformat``).  Reader options, all optional:

``table``
    The id of the table that holds the emotion, or several (a list, or ids
    joined by commas: their rows are read one after the other; a file listed
    again is skipped).  Default: the one table with a column named ``emotion``
    or using the scheme ``emotion``; several such tables are an error that
    lists them.
``emotion``
    That table's column of emotion categories.  Default: the column named
    ``emotion``, else the one using the scheme ``emotion``.
``speaker``
    The speaker column.  Default: a column using the scheme ``speaker``, or
    named ``speaker``, in the emotion table or else in another filewise table
    (audb databases often keep it in ``files``); without one every row's
    speaker is ``"unknown"``.
``gender``
    The gender column.  Default: a column named or using the scheme
    ``gender`` found as the speaker's, else the ``gender`` field of the speaker
    scheme's labels (a dictionary per speaker, or a misc table).
``language``
    The ISO code written in every row.  Default: the database's language when
    it names exactly one (as ISO 639-1 where there is such a code).

Emotions are taken as text, in lower case, and mapped to the four classes by
the manifest reader's table (:func:`crossemo.corpora.manifest.emotion_label`);
the others stay unlabelled.  Genders other than female/f/male/m are left
empty.  Only filewise tables name whole recordings: a segmented table
(``file``, ``start``, ``end``) is refused unless every segment is a whole file.
Listed files that are missing or unreadable are skipped with their reason.
The table's ``corpus`` is the database's name; its root is the database folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crossemo.audio import AudioError
from crossemo.corpora.base import audio_reason, corpus_root, empty_corpus_error, file_audio_info, make_table, skip
from crossemo.corpora.manifest import DEFAULT_SPEAKER, GENDERS, emotion_label
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import path_from_text, path_to_text

NAME = "audformat"
TITLE = "audformat database"
LANGUAGE = None
LANGUAGE_NOTE = "the database's language (db.yaml), or the option language"
LAYOUT = "an audformat database folder: db.yaml, its tables, and the audio files they list"
"""The expected layout (``scan --list``, layout errors)."""

EMOTION = "emotion"
SPEAKER = "speaker"
GENDER = "gender"


def read(
    path: str | os.PathLike[str],
    *,
    table: str | Sequence[str] | None = None,
    emotion: str | None = None,
    speaker: str | None = None,
    gender: str | None = None,
    language: str | None = None,
) -> pd.DataFrame:
    """Read an audformat database into a corpus table (options: see the module docstring)."""
    text_options(emotion=emotion, speaker=speaker, gender=gender, language=language)
    root = corpus_root(path, title=TITLE)
    db = load_database(root)
    table_ids = names_option(table, "table") if table is not None else [emotion_table(db, root)]
    language = language if language is not None else database_language(db)
    rows: list[dict[str, object]] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for table_id in table_ids:
        facts = table_facts(db, table_id, root, emotion=emotion, speaker=speaker, gender=gender)
        for file, emotion_name, speaker_name, gender_name in zip(
            facts.index, facts[EMOTION], facts[SPEAKER], facts[GENDER], strict=True
        ):
            relative = _relative_path(str(file), root)
            if relative in seen:
                skipped.append(skip(relative, f"listed again in table {table_id!r}; the first listing is kept"))
                continue
            seen.add(relative)
            absolute = root / path_from_text(relative)
            if not absolute.is_file():
                skipped.append(skip(relative, f"listed in table {table_id!r} but not found"))
                continue
            try:
                duration_s, _ = file_audio_info(absolute)
            except AudioError as error:
                skipped.append(skip(relative, audio_reason(error)))
                continue
            rows.append(
                {
                    "path": relative,
                    "corpus": db.name,
                    "language": language,
                    "speaker": speaker_name,
                    "gender": gender_name,
                    "emotion": emotion_name,
                    "label": emotion_label(emotion_name),
                    "group": None,
                    "duration_s": duration_s,
                }
            )
    if not rows:
        raise empty_corpus_error(title=TITLE, root=root, expected=LAYOUT, candidates=skipped, others=0)
    return make_table(rows, root=root, skipped=skipped)


def load_database(root: Path) -> Any:
    """``audformat.Database.load(root)``, with a clear error when it cannot be loaded."""
    try:
        import audformat
    except ImportError:
        raise CorpusLayoutError(
            "the audformat reader needs the audformat package: pip install 'crossemo[corpora]'"
        ) from None
    if not (root / "db.yaml").is_file():
        raise CorpusLayoutError(f"no db.yaml in {path_to_text(root)}: expected {LAYOUT}")
    try:
        return audformat.Database.load(str(root), load_data=False)
    except Exception as error:  # audformat raises yaml, pandas, KeyError and its own errors
        raise CorpusLayoutError(
            f"cannot load the audformat database {path_to_text(root)}: {type(error).__name__}: {error}"
        ) from None


def emotion_table(db: Any, root: Path) -> str:
    """The id of the one table with an emotion column; an error when there are none or several."""
    found = [table_id for table_id, table in db.tables.items() if _find_column(table, EMOTION) is not None]
    if len(found) == 1:
        return found[0]
    known = ", ".join(db.tables) or "none"
    if not found:
        raise CorpusLayoutError(
            f"no table of the audformat database {path_to_text(root)} has an emotion column "
            f"(tables: {known}): give the option table (and emotion, the column)"
        )
    raise CorpusLayoutError(
        f"several tables of the audformat database {path_to_text(root)} have an emotion column "
        f"({', '.join(found)}): choose with the option table (several joined by commas)"
    )


def table_facts(
    db: Any, table_id: str, root: Path, *, emotion: str | None, speaker: str | None, gender: str | None
) -> pd.DataFrame:
    """Emotion, speaker and gender per file of table ``table_id`` (index: file as listed; text cells)."""
    if table_id not in db.tables:
        raise CorpusLayoutError(
            f"the audformat database {path_to_text(root)} has no table {table_id!r}; "
            f"tables: {', '.join(db.tables) or 'none'}"
        )
    table = db[table_id]
    frame = _filewise(table.get(), table_id, root)
    emotion_column = emotion if emotion is not None else _find_column(table, EMOTION)
    _check_column(table, emotion_column, table_id, root, option="emotion")
    values = frame[emotion_column]
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("floating", "mixed-integer-float", "decimal"):
        raise CorpusLayoutError(
            f"column {emotion_column!r} of table {table_id!r} holds numbers ({kind}), not emotion "
            f"categories: give the option emotion"
        )
    speakers, speaker_table = _speaker_series(db, table_id, frame.index, root, column=speaker)
    genders = _gender_series(db, table_id, speaker_table, frame.index, root, column=gender)
    columns = {
        EMOTION: [_text(value, lower=True) for value in values],
        SPEAKER: [_text(value) or DEFAULT_SPEAKER for value in speakers],
        GENDER: [GENDERS.get(_text(value, lower=True) or "") for value in genders],
    }
    # object columns: missing cells stay None (a text column would turn them into NaN)
    return pd.DataFrame({name: pd.Series(cells, index=frame.index, dtype=object) for name, cells in columns.items()})


def database_language(db: Any) -> str | None:
    """The database's single language as ISO 639-1 (639-3 when there is no shorter code), else ``None``.

    audformat stores languages as ISO 639-3 (``deu``); the other readers write ``de``.
    """
    languages = list(db.languages or [])
    if len(languages) != 1:
        return None
    code = str(languages[0])
    try:
        from iso639 import Lang  # installed with audformat, which normalizes languages with it

        return Lang(code).pt1 or code
    except Exception:  # an unknown code or no iso639 package: keep the database's own code
        return code


def names_option(value: str | Sequence[str], option: str) -> list[str]:
    """A reader option naming one or several things: a list of names, or names joined by commas.

    >>> names_option("train, test", "split"), names_option(["a,b"], "table")
    (['train', 'test'], ['a,b'])
    """
    names = [part.strip() for part in value.split(",")] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise CorpusLayoutError(f"option {option}: expected names (a list, or joined by commas), got {value!r}")
    return names


def text_options(**options: object) -> None:
    """Raise :class:`~crossemo.errors.CorpusLayoutError` for a given option that is not a non-empty text.

    >>> text_options(emotion="mood", speaker=None)
    """
    for option, value in options.items():
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise CorpusLayoutError(f"option {option}: expected a name (text), got {value!r}")


def _filewise(frame: pd.DataFrame, table_id: str, root: Path) -> pd.DataFrame:
    """``frame`` indexed by file: a filewise table as it is, a segmented one whose segments are whole files."""
    import audformat

    if audformat.is_filewise_index(frame.index):
        return frame
    starts = frame.index.get_level_values("start")
    ends = frame.index.get_level_values("end")
    if (starts == pd.Timedelta(0)).all() and ends.isna().all():
        return frame.reset_index(["start", "end"], drop=True)
    raise CorpusLayoutError(
        f"table {table_id!r} of the audformat database {path_to_text(root)} is segmented: crossemo reads "
        "whole recordings, so give a filewise table (index: file)"
    )


def _find_column(table: Any, role: str) -> str | None:
    """The column named ``role``, else the first one using the scheme ``role``."""
    if role in table.columns:
        return role
    return next((name for name, column in table.columns.items() if column.scheme_id == role), None)


def _check_column(table: Any, column: str | None, table_id: str, root: Path, *, option: str) -> None:
    if column is None or column not in table.columns:
        what = f"no column {column!r}" if column is not None else f"no {option} column"
        raise CorpusLayoutError(
            f"table {table_id!r} of the audformat database {path_to_text(root)} has {what} "
            f"(columns: {', '.join(table.columns) or 'none'}): give the option {option}"
        )


def _speaker_series(
    db: Any, table_id: str, files: pd.Index, root: Path, *, column: str | None
) -> tuple[pd.Series, str | None]:
    """Speaker per file and the id of the table it came from (``None``: no speaker anywhere)."""
    if column is not None:
        _check_column(db[table_id], column, table_id, root, option="speaker")
        return _column_values(db, table_id, column, files), table_id
    for source in (table_id, *(other for other in db.tables if other != table_id)):
        found = _find_column(db[source], SPEAKER)
        if found is not None and (source == table_id or _is_filewise_table(db[source])):
            return _column_values(db, source, found, files), source
    return pd.Series(None, index=files, dtype=object), None


def _gender_series(
    db: Any, table_id: str, speaker_table: str | None, files: pd.Index, root: Path, *, column: str | None
) -> pd.Series:
    """Gender per file: the option's column, a gender column, or the speaker scheme's ``gender`` field."""
    if column is not None:
        _check_column(db[table_id], column, table_id, root, option="gender")
        return _column_values(db, table_id, column, files)
    for source in dict.fromkeys(source for source in (table_id, speaker_table) if source is not None):
        found = _find_column(db[source], GENDER)
        if found is not None:
            return _column_values(db, source, found, files)
    if speaker_table is not None:
        speaker_column = _find_column(db[speaker_table], SPEAKER)
        try:  # labels of the speaker scheme: a dictionary per speaker, or a misc table
            mapped = db[speaker_table].get(map={speaker_column: GENDER})[GENDER]
            return _filewise(mapped.to_frame(), speaker_table, root)[GENDER].reindex(files)
        except Exception:  # no scheme, no labels or no gender field: gender stays unknown
            pass
    return pd.Series(None, index=files, dtype=object)


def _column_values(db: Any, table_id: str, column: str, files: pd.Index) -> pd.Series:
    frame = _filewise(db[table_id].get(), table_id, Path(db.root or "."))
    return frame[column].reindex(files)


def _is_filewise_table(table: Any) -> bool:
    return str(table.type) == "filewise"


def _text(value: object, *, lower: bool = False) -> str | None:
    """A table cell as stripped text (lower case if asked), ``None`` for a missing or empty one."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return (text.lower() if lower else text) or None


def _relative_path(file: str, root: Path) -> str:
    """A listed file as text, POSIX, relative to ``root`` (absolute listings are made relative)."""
    path = Path(file.replace("\\", "/"))
    absolute = path if path.is_absolute() else root / path
    return path_to_text(Path(os.path.relpath(os.path.normpath(absolute), root)).as_posix())
