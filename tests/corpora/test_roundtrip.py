"""One corpus in three containers: its folder layout, an audformat database, a Hugging Face dataset.

The writers here turn a corpus table (as a reader returns it) into an audformat
database (audio copied beside ``db.yaml``), a Parquet dataset (audio as bytes in
the shards) and a ``save_to_disk`` folder (Arrow streams), each returning how its
paths map back to the table's.  Reading them back must give the same table,
paths aside, and extracting it the same features.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossemo.corpora import read_corpus
from crossemo.features import extract
from tests.fixtures import make_corpus


def emotion_names(table: pd.DataFrame) -> list[str]:
    """The emotions of a table as a ClassLabel's names (sorted, so ids differ from any fixture order)."""
    return sorted(set(table["emotion"]))


def write_audformat(table: pd.DataFrame, out: Path) -> dict[str, str]:
    """``table`` as an audformat database in ``out``: ``files`` (speaker) and ``emotion`` tables.

    Genders are in the speaker scheme's labels, as audb databases keep them.
    Returns the database's paths -> the table's.
    """
    import audformat

    root = Path(table.attrs["root"])
    paths = {f"audio/{number:03d}_{Path(path).name}": path for number, path in enumerate(table["path"])}
    for new, old in paths.items():
        (out / new).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / old, out / new)
    languages = sorted(set(table["language"].dropna()))
    db = audformat.Database(str(table["corpus"].iloc[0]), languages=languages)
    speakers = table.drop_duplicates("speaker").set_index("speaker")["gender"]
    db.schemes["speaker"] = audformat.Scheme(
        "str", labels={speaker: ({"gender": gender} if gender else {}) for speaker, gender in speakers.items()}
    )
    index = audformat.filewise_index(list(paths))
    db["files"] = audformat.Table(index)
    db["files"]["speaker"] = audformat.Column(scheme_id="speaker")
    db["files"]["speaker"].set(table["speaker"].tolist())
    db["emotion"] = audformat.Table(index)
    db["emotion"]["emotion"] = audformat.Column()
    db["emotion"]["emotion"].set(table["emotion"].tolist())
    db.save(str(out))
    return paths


def hf_metadata(features: dict, name: str) -> dict[bytes, bytes]:
    return {b"huggingface": json.dumps({"info": {"features": features, "dataset_name": name}}).encode()}


def write_parquet_dataset(
    table: pd.DataFrame, out: Path, *, shards: int = 2, row_group_size: int = 3
) -> dict[str, str]:
    """``table`` as a hub-style Parquet dataset: ``data/train-0000N-of-0000M.parquet``.

    Audio as bytes in an ``audio`` struct, the emotion as ClassLabel ids of a
    ``label`` column, ``speaker_id``, ``gender`` and ``language`` as text.
    Returns the references (``<shard>::audio::<row>``) -> the table's paths.
    """
    root = Path(table.attrs["root"])
    names = emotion_names(table)
    features = {"audio": {"_type": "Audio"}, "label": {"names": names, "_type": "ClassLabel"}}
    paths: dict[str, str] = {}
    (out / "data").mkdir(parents=True, exist_ok=True)
    for shard, part in enumerate(np.array_split(np.arange(len(table)), shards)):
        rows = table.iloc[part]
        shard_table = pa.table(
            {
                "audio": [{"bytes": (root / path).read_bytes(), "path": Path(path).name} for path in rows["path"]],
                "label": [names.index(emotion) for emotion in rows["emotion"]],
                "speaker_id": rows["speaker"].tolist(),
                "gender": [gender or "" for gender in rows["gender"]],
                "language": rows["language"].tolist(),
            }
        ).replace_schema_metadata(hf_metadata(features, str(table["corpus"].iloc[0])))
        name = f"data/train-{shard:05d}-of-{shards:05d}.parquet"
        pq.write_table(shard_table, out / name, row_group_size=row_group_size)
        paths.update({f"{name}::audio::{row:06d}": path for row, path in enumerate(rows["path"])})
    return paths


def write_saved_dataset(table: pd.DataFrame, out: Path) -> dict[str, str]:
    """``table`` as ``DatasetDict.save_to_disk`` writes it: two splits of Arrow streams, free-text emotions.

    Returns the references -> the table's paths.
    """
    root = Path(table.attrs["root"])
    splits = {"train": table.iloc[::2], "test": table.iloc[1::2]}
    (out).mkdir(parents=True, exist_ok=True)
    (out / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    features = {"audio": {"_type": "Audio"}, "emotion": {"dtype": "string", "_type": "Value"}}
    paths: dict[str, str] = {}
    for split, rows in splits.items():
        folder = out / split
        folder.mkdir()
        arrow = pa.table(
            {
                "audio": [{"bytes": (root / path).read_bytes(), "path": None} for path in rows["path"]],
                "emotion": rows["emotion"].tolist(),
                "speaker": rows["speaker"].tolist(),
                "sex": rows["gender"].tolist(),
                "language": rows["language"].tolist(),
            }
        )
        with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, arrow.schema) as writer:
                writer.write_table(arrow, max_chunksize=2)
        (folder / "state.json").write_text(
            json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": split})
        )
        info = {"features": features, "dataset_name": str(table["corpus"].iloc[0])}
        (folder / "dataset_info.json").write_text(json.dumps(info))
        paths.update(
            {f"{split}/data-00000-of-00001.arrow::audio::{row:06d}": path for row, path in enumerate(rows["path"])}
        )
    return paths


def as_source(table: pd.DataFrame, paths: dict[str, str]) -> pd.DataFrame:
    """``table`` with its paths mapped back to the source's, sorted as a reader sorts."""
    mapped = table.assign(path=table["path"].map(paths))
    assert mapped["path"].notna().all(), "a path the writer did not write"
    return mapped.sort_values("path", ignore_index=True)


WRITERS = {
    "audformat": (write_audformat, "audformat", {}),
    "parquet": (write_parquet_dataset, "hf", {}),
    "save_to_disk": (write_saved_dataset, "hf", {}),
}


@pytest.mark.parametrize("source", ["emodb", "manifest"])
@pytest.mark.parametrize("container", sorted(WRITERS))
def test_a_corpus_reads_the_same_in_every_container(tmp_path: Path, source: str, container: str) -> None:
    original = read_corpus(source, make_corpus(source, tmp_path / source))
    write, reader, options = WRITERS[container]

    paths = write(original, tmp_path / container)
    table = read_corpus(reader, tmp_path / container, **options)

    assert table.attrs["skipped"] == []
    assert table.attrs["root"] == str((tmp_path / container).resolve())
    if reader == "hf":  # a shard's rows in row order (emodb's shards hold more than ten rows)
        shards = table["path"].str.rsplit("::", n=1, expand=True)
        assert all(rows.astype(int).is_monotonic_increasing for _, rows in shards.groupby(0)[1])
    pd.testing.assert_frame_equal(as_source(table, paths), original)
    assert original["label"].isna().any() and original["label"].notna().any()  # both kinds compared


def test_the_same_audio_extracts_to_the_same_features_in_every_container(tmp_path: Path) -> None:
    original = read_corpus("manifest", make_corpus("manifest", tmp_path / "manifest"))
    shared_cache = tmp_path / "cache"
    from_files = extract(original, cache_dir=shared_cache, jobs=1)
    assert from_files.attrs["computed"] == len(original)

    expected = from_files.sort_values("path", ignore_index=True)
    paths = {}
    for container, (write, reader, options) in WRITERS.items():
        paths[container] = write(original, tmp_path / container)
        table = read_corpus(reader, tmp_path / container, **options)
        features = extract(table, cache_dir=shared_cache, jobs=1)
        # The cache is keyed by content: the same audio, as a copy or as bytes, is not computed again.
        assert (features.attrs["computed"], features.attrs["cached"]) == (0, len(original)), container
        pd.testing.assert_frame_equal(as_source(features, paths[container]), expected)

    # Decoded from the bytes in memory, not taken from the cache: still the same values.
    table = read_corpus("hf", tmp_path / "parquet")
    fresh = extract(table, cache_dir=tmp_path / "fresh-cache", jobs=1)
    assert fresh.attrs["computed"] == len(original)
    pd.testing.assert_frame_equal(as_source(fresh, paths["parquet"]), expected)


def test_a_study_reads_its_corpora_with_their_options(tmp_path: Path) -> None:
    from crossemo.config import parse_config
    from crossemo.study import load_corpora

    original = read_corpus("manifest", make_corpus("manifest", tmp_path / "manifest"))
    write_saved_dataset(original, tmp_path / "saved")
    write_audformat(original, tmp_path / "db")
    config = parse_config(
        {
            "train": {"corpus": "hf", "path": str(tmp_path / "saved"), "options": {"split": "train", "language": "xx"}},
            "transfer": [{"corpus": "audformat", "path": str(tmp_path / "db"), "options": {"table": "emotion"}}],
            "compute": {"cache_dir": str(tmp_path / "cache"), "jobs": 1},
            "protocol": {"outlier_z": 100},
        }
    )

    corpora = load_corpora(config)

    assert len(corpora["hf"].table) == len(original.iloc[::2])  # the train split only
    assert set(corpora["hf"].table["language"]) == {"xx"}
    assert len(corpora["audformat"].table) == len(original)


@pytest.mark.parametrize("name", ["audformat", "hf_dataset"])
def test_the_example_configs_are_valid(name: str) -> None:
    import tomllib

    from crossemo.config import parse_config

    path = Path(__file__).resolve().parents[2] / "configs" / f"{name}.toml"
    config = parse_config(tomllib.loads(path.read_text(encoding="utf-8")))

    entries = config.entries()
    assert {entry.corpus for entry in entries} == {"audformat" if name == "audformat" else "hf"}
    assert all(entry.options for entry in entries)
