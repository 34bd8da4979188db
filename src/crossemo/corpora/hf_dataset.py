"""Hugging Face audio datasets on disk as corpora (read with pyarrow; no ``datasets`` package).

``path`` is a folder in one of two layouts:

- **Parquet shards**, as a dataset repository on the hub holds them and a download
  of it lays them out: any ``*.parquet`` file below the folder, e.g.
  ``data/train-00000-of-00002.parquet`` (split ``train``; a hash after the
  counts is allowed) or ``default/test/0000.parquet`` (a name of digits only:
  the split is the parent folder); any other name is its own split
  (``train.parquet``: ``train``).
- **a** ``save_to_disk`` **folder**: ``state.json`` with the Arrow files it lists
  (``data-00000-of-00001.arrow``) and ``dataset_info.json``; or, for a dataset
  of several splits, ``dataset_dict.json`` and one such folder per split.

Columns are found by name, each a reader option when the name differs:
``audio`` (default ``audio``, else the one column of the ``Audio`` feature:
a struct with ``bytes`` and ``path``, plain binary, or a file path as text),
``emotion`` (``emotion``, ``label``, ``labels``), ``speaker``
(``speaker_id``, ``speaker``), ``gender`` (``gender``, ``sex``).  ``language``
is the ISO code written in every row (default: a ``language``, ``lang`` or
``locale`` column, else unknown) and ``split`` the splits to read (a list, or
names joined by commas; default all).  Class ids of a ``ClassLabel`` column
(emotion, speaker or gender) are turned into their names, read from the
``huggingface`` key of the shard's schema metadata (JSON,
``info.features.<column>.names``) or, for ``save_to_disk``, from
``dataset_info.json``; an id without a name (``-1``: no label) is an empty cell.

Emotions are mapped to the four classes as the manifest reader maps them
(:func:`crossemo.corpora.manifest.emotion_label`); others stay unlabelled.

Audio held as bytes stays in the shard: the row's ``path`` is the reference
``<shard>::<audio column>::<row>`` (:func:`crossemo.fileio.embedded_path`, the
shard relative to the folder, the row counted from 0 within the shard and written
with six digits or more, ``data/train-00000-of-00001.parquet::audio::000012``), which
:func:`crossemo.audio.read_audio` decodes from memory and the feature cache keys
by the SHA-256 of those bytes, so that the same recording as a file shares its
cached features.  A row with no bytes but the path of an existing file (the
hub's ``audio.path``; a relative one is looked up against the folder, then the
shard's folder) is that file, named relative to the folder.  Rows without
audio are skipped with their reason.  The table's ``corpus`` is the
``dataset_name`` of the dataset's info, or ``hf``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crossemo.audio import AudioError, audio_bytes_info
from crossemo.corpora.audformat_db import names_option, text_options
from crossemo.corpora.base import (
    audio_reason,
    corpus_root,
    empty_corpus_error,
    file_audio_info,
    find_files,
    make_table,
    relative_posix,
    skip,
)
from crossemo.corpora.manifest import DEFAULT_SPEAKER, GENDERS, emotion_label
from crossemo.errors import CorpusLayoutError
from crossemo.fileio import embedded_path, path_to_text

NAME = "hf"
TITLE = "Hugging Face dataset"
LANGUAGE = None
LANGUAGE_NOTE = "a language column, or the option language"
LAYOUT = (
    "a Hugging Face dataset folder: Parquet shards (e.g. data/train-00000-of-00001.parquet) "
    "or a save_to_disk folder (state.json, data-00000-of-00001.arrow)"
)
"""The expected layout (``scan --list``, layout errors)."""

COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "audio": ("audio",),
    "emotion": ("emotion", "label", "labels"),
    "speaker": ("speaker_id", "speaker"),
    "gender": ("gender", "sex"),
    "language": ("language", "lang", "locale"),
}
"""Role -> the column names looked for, in order, when the option does not name the column."""

METADATA_KEY = b"huggingface"
_COUNTED_SHARD = re.compile(r"(?P<split>.+?)-\d+-of-\d+(?:-[0-9a-f]+)?")
BATCH_ROWS = 256
"""Rows decoded at a time when a shard is read: bounds the memory a shard's audio takes."""


@dataclass(frozen=True)
class Shard:
    """One file of a dataset: its path, split, format and features (``info.features``, may be empty)."""

    path: Path
    split: str
    arrow: bool
    features: dict[str, Any] = field(default_factory=dict)
    dataset_name: str | None = None


def read(
    path: str | os.PathLike[str],
    *,
    audio: str | None = None,
    emotion: str | None = None,
    speaker: str | None = None,
    gender: str | None = None,
    language: str | None = None,
    split: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a Hugging Face dataset folder into a corpus table (options: see the module docstring)."""
    text_options(audio=audio, emotion=emotion, speaker=speaker, gender=gender, language=language)
    root = corpus_root(path, title=TITLE)
    shards = select_splits(find_shards(root), names_option(split, "split") if split is not None else None, root)
    chosen = {"audio": audio, "emotion": emotion, "speaker": speaker, "gender": gender}
    rows: list[dict[str, object]] = []
    skipped: list[dict[str, str]] = []
    seen: set[str] = set()
    for shard in shards:
        schema = shard_schema(shard)
        own_features, own_name = features_of(schema)
        features = {**shard.features, **own_features}  # the shard's own metadata first
        corpus = own_name or shard.dataset_name or NAME
        columns = shard_columns(schema, shard.path, features, chosen, language_fixed=language is not None)
        for row, cells in _rows(shard, list(columns.values())):
            facts = {role: _cell(cells[name], features.get(name)) for role, name in columns.items()}
            located = _locate_audio(cells[columns["audio"]], shard, columns["audio"], row, root)
            if isinstance(located, dict):
                skipped.append(located)
                continue
            relative, duration_s = located
            if relative in seen:
                skipped.append(skip(relative, "listed again; the first listing is kept"))
                continue
            seen.add(relative)
            emotion_name = _text(facts.get("emotion"), lower=True)
            speaker_name = _text(facts.get("speaker")) or DEFAULT_SPEAKER
            rows.append(
                {
                    "path": relative,
                    "corpus": corpus,
                    "language": language if language is not None else _text(facts.get("language")),
                    "speaker": speaker_name,
                    "gender": GENDERS.get(_text(facts.get("gender"), lower=True) or ""),
                    "emotion": emotion_name,
                    "label": emotion_label(emotion_name),
                    "group": speaker_name,
                    "duration_s": duration_s,
                }
            )
    if not rows:
        raise empty_corpus_error(title=TITLE, root=root, expected=LAYOUT, candidates=skipped, others=0)
    return make_table(rows, root=root, skipped=skipped)


def find_shards(root: Path) -> list[Shard]:
    """The dataset's files, in split and path order: a ``save_to_disk`` folder's, else every Parquet file."""
    if (root / "dataset_dict.json").is_file():
        splits = _json(root / "dataset_dict.json").get("splits")
        if not isinstance(splits, list) or not all(isinstance(name, str) for name in splits):
            raise CorpusLayoutError(f"{path_to_text(root / 'dataset_dict.json')}: expected a list of splits")
        return [shard for name in splits for shard in _saved_split(root / name, name)]
    if (root / "state.json").is_file():
        return _saved_split(root, None)
    shards = []
    for file in find_files(root, suffix=".parquet"):
        if any(part.startswith(".") for part in file.relative_to(root).parts):
            continue  # hidden folders: the hub client's .cache, partial downloads
        counted = _COUNTED_SHARD.fullmatch(file.stem)
        name = counted["split"] if counted else file.parent.name if file.stem.isdigit() else file.stem
        shards.append(Shard(file, name, arrow=False))
    if not shards:
        raise CorpusLayoutError(f"no {TITLE} under {path_to_text(root)}: expected {LAYOUT}")
    return sorted(shards, key=lambda shard: (shard.split, shard.path))


def select_splits(shards: list[Shard], splits: list[str] | None, root: Path) -> list[Shard]:
    """The shards of ``splits`` (all for ``None``); an unknown split is an error naming the known ones."""
    if splits is None:
        return shards
    known = sorted({shard.split for shard in shards})
    unknown = [name for name in splits if name not in known]
    if unknown:
        raise CorpusLayoutError(
            f"{TITLE} {path_to_text(root)} has no split {', '.join(map(repr, unknown))}; splits: {', '.join(known)}"
        )
    return [shard for shard in shards if shard.split in splits]


def shard_schema(shard: Shard) -> pa.Schema:
    """The shard's Arrow schema, with a clear error for a file that is not Parquet / Arrow."""
    try:
        with open(shard.path, "rb") as handle:  # Python opens it: pyarrow refuses a name that is not UTF-8
            return _arrow_reader(handle).schema if shard.arrow else pq.ParquetFile(handle).schema_arrow
    except (pa.ArrowException, OSError) as error:
        kind = "Arrow" if shard.arrow else "Parquet"
        raise CorpusLayoutError(f"{path_to_text(shard.path)} is not a readable {kind} file: {error}") from None


def features_of(schema: pa.Schema) -> tuple[dict[str, Any], str | None]:
    """``info.features`` and ``info.dataset_name`` of the schema's ``huggingface`` metadata (empty if absent).

    >>> meta = {"info": {"features": {"label": {"names": ["ang", "neu"], "_type": "ClassLabel"}}}}
    >>> features_of(pa.schema([("label", pa.int64())], metadata={"huggingface": json.dumps(meta)}))
    ({'label': {'names': ['ang', 'neu'], '_type': 'ClassLabel'}}, None)
    """
    try:
        info = json.loads((schema.metadata or {}).get(METADATA_KEY, b"{}")).get("info") or {}
    except (ValueError, AttributeError):
        return {}, None
    features = info.get("features") if isinstance(info, dict) else None
    name = info.get("dataset_name") if isinstance(info, dict) else None
    return (features if isinstance(features, dict) else {}), (name if isinstance(name, str) and name else None)


def shard_columns(
    schema: pa.Schema,
    shard: Path,
    features: dict[str, Any],
    chosen: dict[str, str | None],
    *,
    language_fixed: bool,
) -> dict[str, str]:
    """Role -> column name in this shard: the option's column (which must exist) or the first found."""
    names = list(schema.names)
    roles = {role: chosen.get(role) for role in COLUMN_NAMES if role != "language" or not language_fixed}
    columns: dict[str, str] = {}
    for role, option in roles.items():
        if option is not None:
            if option not in names:
                raise CorpusLayoutError(
                    f"{path_to_text(shard)} has no column {option!r} (option {role}); columns: {', '.join(names)}"
                )
            columns[role] = option
            continue
        found = next((name for name in COLUMN_NAMES[role] if name in names), None)
        if found is None and role == "audio":
            found = _audio_feature_column(schema, features)
        if found is not None:
            columns[role] = found
    for role in ("audio", "emotion"):
        if role not in columns:
            raise CorpusLayoutError(
                f"no {role} column in {path_to_text(shard)} (columns: {', '.join(names)}; looked for "
                f"{', '.join(COLUMN_NAMES[role])}): name it with the option {role}"
            )
    return columns


def _audio_feature_column(schema: pa.Schema, features: dict[str, Any]) -> str | None:
    """The one column declared as an ``Audio`` feature, or the one struct of ``bytes`` and ``path``."""
    declared = [name for name, feature in features.items() if isinstance(feature, dict) and feature.get("_type") == "Audio"]
    if len(declared) == 1 and declared[0] in schema.names:
        return declared[0]
    structs = [
        entry.name
        for entry in schema
        if pa.types.is_struct(entry.type) and {"bytes", "path"} <= {child.name for child in entry.type}
    ]
    return structs[0] if len(structs) == 1 else None


def _saved_split(folder: Path, name: str | None) -> list[Shard]:
    """The Arrow files of one ``save_to_disk`` split folder, with its features and name."""
    state_file = folder / "state.json"
    if not state_file.is_file():
        raise CorpusLayoutError(f"no state.json in {path_to_text(folder)}: expected {LAYOUT}")
    state = _json(state_file)
    files = state.get("_data_files")
    if not isinstance(files, list) or not files or not all(isinstance(item, dict) and "filename" in item for item in files):
        raise CorpusLayoutError(f"{path_to_text(state_file)}: expected _data_files, a list of {{filename: ...}}")
    info = _json(folder / "dataset_info.json") if (folder / "dataset_info.json").is_file() else {}
    features = info.get("features") if isinstance(info.get("features"), dict) else {}
    dataset_name = info.get("dataset_name") if isinstance(info.get("dataset_name"), str) else None
    split = name or state.get("_split") or folder.name
    shards = []
    for item in files:
        file = folder / str(item["filename"])
        if not file.is_file():
            raise CorpusLayoutError(f"{path_to_text(state_file)} lists {item['filename']}, which is missing")
        shards.append(Shard(file, str(split), arrow=True, features=features, dataset_name=dataset_name or None))
    return shards


def _rows(shard: Shard, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row, {column: value})`` for every row of the shard, reading :data:`BATCH_ROWS` at a time."""
    wanted = list(dict.fromkeys(columns))
    row = 0
    try:
        with open(shard.path, "rb") as handle:
            if shard.arrow:
                batches = (batch.select(wanted) for batch in _arrow_batches(_arrow_reader(handle)))
            else:
                batches = pq.ParquetFile(handle).iter_batches(batch_size=BATCH_ROWS, columns=wanted)
            for batch in batches:
                for record in batch.to_pylist():
                    yield row, record
                    row += 1
    except (pa.ArrowException, OSError) as error:
        raise CorpusLayoutError(f"cannot read {path_to_text(shard.path)} (row {row}): {error}") from None


def _arrow_reader(handle: Any) -> Any:
    """A reader of an Arrow stream (what ``save_to_disk`` writes) or, failing that, an Arrow file."""
    try:
        return pa.ipc.open_stream(handle)
    except pa.ArrowInvalid:
        handle.seek(0)
        return pa.ipc.open_file(handle)


def _arrow_batches(reader: Any) -> Iterator[pa.RecordBatch]:
    """The record batches of an Arrow stream reader or file reader."""
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        return (reader.get_batch(index) for index in range(reader.num_record_batches))
    return iter(reader)


def _locate_audio(
    cell: Any, shard: Shard, column: str, row: int, root: Path
) -> tuple[str, float] | dict[str, str]:
    """``(path as text, duration_s)`` of a row's audio, or the skip entry saying why there is none."""
    reference = embedded_path(path_to_text(relative_posix(shard.path, root)), column, row)
    data, file = (cell.get("bytes"), cell.get("path")) if isinstance(cell, dict) else (cell, None)
    if isinstance(data, str):  # a column of file paths
        data, file = None, data
    try:
        if data:
            return reference, audio_bytes_info(data)[0]
        if not file:
            return skip(reference, "no audio in this row (neither bytes nor a path)")
        found = _existing_file(file, shard, root)
        if found is None:
            return skip(reference, f"no audio bytes, and the audio path {file!r} is not a file")
        return _relative_text(found, root), file_audio_info(found)[0]
    except AudioError as error:
        return skip(reference, audio_reason(error))


def _existing_file(file: str, shard: Shard, root: Path) -> Path | None:
    path = Path(file).expanduser()
    candidates = [path] if path.is_absolute() else [root / path, shard.path.parent / path]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _relative_text(file: Path, root: Path) -> str:
    return path_to_text(Path(os.path.relpath(os.path.normpath(os.path.abspath(file)), root)).as_posix())


def _cell(value: Any, feature: Any) -> Any:
    """A cell with a ``ClassLabel`` id turned into its name (``None`` for -1 or an id without a name)."""
    names = feature.get("names") if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" else None
    if names is None or isinstance(value, str) or value is None:
        return value
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return None


def _text(value: Any, *, lower: bool = False) -> str | None:
    """A cell as stripped text (lower case if asked), ``None`` for a missing or empty one."""
    if value is None:
        return None
    text = str(value).strip()
    return (text.lower() if lower else text) or None


def _json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CorpusLayoutError(f"cannot read {path_to_text(file)}: {error}") from None
    if not isinstance(data, dict):
        raise CorpusLayoutError(f"{path_to_text(file)}: expected a JSON object")
    return data
