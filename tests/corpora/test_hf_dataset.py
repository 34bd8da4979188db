"""The Hugging Face reader and embedded audio: layouts, splits, columns, ClassLabels, bytes and files, hashing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile

from crossemo import audio
from crossemo.audio import AudioError, audio_info, read_audio
from crossemo.corpora import COLUMNS, read_corpus
from crossemo.corpora.hf_dataset import read
from crossemo.errors import CorpusLayoutError
from crossemo.features.cache import FeatureCache
from crossemo.features.extractors import get_extractor
from crossemo.fileio import EmbeddedAudio, embedded_reference, file_sha256, openable_path
from tests.fixtures import write_tone

EMOTIONS = ["ang", "hap", "neu", "sad", "fea"]


def metadata(features: dict) -> dict[bytes, bytes]:
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}


def tones(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    return [write_tone(folder / f"clip{number:02d}.wav", duration_s=0.3 + 0.05 * number) for number in range(start, start + count)]


def write_shard(path: Path, columns: dict, features: dict | None = None, *, row_group_size: int | None = None) -> Path:
    table = pa.table(columns)
    if features is not None:
        table = table.replace_schema_metadata(metadata(features))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def audio_cells(files: list[Path]) -> list[dict]:
    return [{"bytes": file.read_bytes(), "path": file.name} for file in files]


def test_parquet_shards_columns_classlabels_and_splits(tmp_path: Path) -> None:
    clips = tones(tmp_path / "clips", 6)
    features = {
        "audio": {"_type": "Audio"},
        "label": {"names": EMOTIONS, "_type": "ClassLabel"},
        "gender": {"names": ["F", "M"], "_type": "ClassLabel"},
    }
    write_shard(tmp_path / "ds" / "data" / "train-00000-of-00001.parquet", {
        "audio": audio_cells(clips[:4]), "label": [0, 2, 4, -1], "speaker_id": [7, 7, 8, 8], "gender": [0, 0, 1, 1],
    }, features)
    write_shard(tmp_path / "ds" / "data" / "test-00000-of-00001-0123abcd.parquet", {
        "audio": audio_cells(clips[4:]), "label": [1, 3], "speaker_id": [9, 9], "gender": [1, 0],
    }, features)

    table = read_corpus("hf", tmp_path / "ds")

    assert list(table.columns) == list(COLUMNS)
    shard = "data/train-00000-of-00001.parquet"
    assert table["path"].tolist() == [
        "data/test-00000-of-00001-0123abcd.parquet::audio::000000",
        "data/test-00000-of-00001-0123abcd.parquet::audio::000001",
        *(f"{shard}::audio::{row:06d}" for row in range(4)),
    ]
    assert table["emotion"].tolist()[:5] == ["hap", "sad", "ang", "neu", "fea"] and pd.isna(table["emotion"].iloc[5])
    assert table["label"].tolist() == ["happy", "sad", "angry", "neutral", None, None]
    assert table["speaker"].tolist() == ["9", "9", "7", "7", "8", "8"]
    assert table["gender"].tolist() == ["male", "female", "female", "female", "male", "male"]
    assert table["duration_s"].tolist() == pytest.approx([0.5, 0.55, 0.3, 0.35, 0.4, 0.45])
    assert set(table["corpus"]) == {"hf"} and table["language"].isna().all()

    assert read(tmp_path / "ds", split="test")["label"].tolist() == ["happy", "sad"]
    assert len(read(tmp_path / "ds", split=["train", "test"])) == 6
    with pytest.raises(CorpusLayoutError, match=r"has no split 'dev'; splits: test, train"):
        read(tmp_path / "ds", split="dev,test")


def test_options_name_the_columns_and_the_language(tmp_path: Path) -> None:
    clips = tones(tmp_path / "clips", 2)
    # The parquet converter's layout: <config>/<split>/0000.parquet.
    write_shard(tmp_path / "ds" / "default" / "validation" / "0000.parquet", {
        "speech": [clip.read_bytes() for clip in clips], "emo": ["Anger", "joy"], "client_id": ["a", "b"],
        "emotion": ["x", "y"],
    })

    table = read(tmp_path / "ds", audio="speech", emotion="emo", speaker="client_id", language="de", split="validation")

    assert table["path"].tolist() == [f"default/validation/0000.parquet::speech::00000{row}" for row in (0, 1)]
    assert table["label"].tolist() == ["angry", "happy"] and table["speaker"].tolist() == ["a", "b"]
    assert set(table["language"]) == {"de"}
    with pytest.raises(CorpusLayoutError, match=r"has no column 'mood' \(option emotion\); columns: speech, emo"):
        read(tmp_path / "ds", audio="speech", emotion="mood")
    with pytest.raises(CorpusLayoutError, match=r"no audio column in .*0000.parquet.*looked for audio\): name it with the option audio"):
        read(tmp_path / "ds")
    with pytest.raises(CorpusLayoutError, match=r"option language: expected a name \(text\), got 5"):
        read(tmp_path / "ds", audio="speech", language=5)


def test_rows_with_files_instead_of_bytes_and_rows_without_audio(tmp_path: Path) -> None:
    clips = tones(tmp_path / "ds" / "data" / "wav", 3)
    outside = tones(tmp_path / "elsewhere", 1, start=3)[0]
    garbage = b"RIFF but not audio"
    write_shard(tmp_path / "ds" / "data" / "train-00000-of-00001.parquet", {
        "audio": [
            {"bytes": None, "path": "wav/clip00.wav"},  # relative to the shard's folder
            {"bytes": None, "path": str(clips[1])},  # absolute
            {"bytes": None, "path": "data/wav/clip02.wav"},  # relative to the dataset folder
            {"bytes": None, "path": str(outside)},
            {"bytes": None, "path": "gone.wav"},
            {"bytes": None, "path": None},
            {"bytes": garbage, "path": "bad.wav"},
            {"bytes": None, "path": "wav/clip00.wav"},
        ],
        "emotion": ["sad"] * 8,
    })

    table = read(tmp_path / "ds")

    assert table["path"].tolist() == ["../elsewhere/clip03.wav", "data/wav/clip00.wav", "data/wav/clip01.wav", "data/wav/clip02.wav"]
    reasons = {entry["path"]: entry["reason"] for entry in table.attrs["skipped"]}
    shard = "data/train-00000-of-00001.parquet"
    assert reasons[f"{shard}::audio::000004"] == "no audio bytes, and the audio path 'gone.wav' is not a file"
    assert reasons[f"{shard}::audio::000005"] == "no audio in this row (neither bytes nor a path)"
    assert reasons[f"{shard}::audio::000006"].startswith("unreadable audio")
    assert reasons["data/wav/clip00.wav"] == "listed again; the first listing is kept"


def test_save_to_disk_of_one_split_in_the_arrow_file_format(tmp_path: Path) -> None:
    clips = tones(tmp_path / "clips", 3)
    table = pa.table({"audio": audio_cells(clips), "label": [3, 0, 2]})
    folder = tmp_path / "saved"
    folder.mkdir()
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": None}))
    (folder / "dataset_info.json").write_text(json.dumps({
        "features": {"label": {"names": EMOTIONS, "_type": "ClassLabel"}}, "dataset_name": "tiny_ser"}))

    read_back = read(folder)

    assert read_back["label"].tolist() == ["sad", "angry", "neutral"] and set(read_back["corpus"]) == {"tiny_ser"}
    signal, rate = read_audio(os.path.join(read_back.attrs["root"], read_back["path"].iloc[1]))
    expected, expected_rate = soundfile.read(clips[1], dtype="float32")
    assert rate == expected_rate and np.array_equal(signal, expected)

    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00001-of-00002.arrow"}]}))
    with pytest.raises(CorpusLayoutError, match="lists data-00001-of-00002.arrow, which is missing"):
        read(folder)


def test_folders_that_are_no_dataset(tmp_path: Path) -> None:
    write_tone(tmp_path / "a.wav")
    with pytest.raises(CorpusLayoutError, match="no Hugging Face dataset under .*: expected .*Parquet shards"):
        read(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 nonsense")
    with pytest.raises(CorpusLayoutError, match="is not a readable Parquet file"):
        read(tmp_path)


def test_embedded_audio_reads_from_memory_one_row_group_at_a_time(tmp_path: Path) -> None:
    clips = tones(tmp_path / "clips", 5)
    shard = write_shard(tmp_path / "s.parquet", {"audio": audio_cells(clips)}, row_group_size=2)
    audio._parquet_cells.cache_clear()

    for row, clip in enumerate(clips):
        signal, rate = read_audio(f"{shard}::audio::{row}")
        expected, expected_rate = soundfile.read(clip, dtype="float32")
        assert rate == expected_rate and np.array_equal(signal, expected)
        assert audio_info(f"{shard}::audio::{row}") == (pytest.approx(soundfile.info(clip).duration), rate)

    assert audio._parquet_cells.cache_info().misses == 3  # three row groups, each read once
    for reference, message in (
        (f"{shard}::audio::5", r"s.parquet row 5: the shard has 5 rows"),
        (f"{shard}::voice::0", r"no column 'voice' \(columns: audio\)"),
        (f"{tmp_path}/absent.parquet::audio::0", r"unreadable audio: .*absent.parquet: No such file"),
    ):
        with pytest.raises(AudioError, match=message):
            read_audio(reference)


def test_references_are_text_paths_that_name_no_file(tmp_path: Path) -> None:
    assert embedded_reference("data/x.parquet::audio::3") == EmbeddedAudio("data/x.parquet", "audio", 3)
    real = write_tone(tmp_path / "odd.parquet::audio::3", audio_format="WAV")  # a file of that name is a file
    assert embedded_reference(str(real)) is None
    with openable_path("d/\udcff.parquet::audio::0") as name:  # Python opens the shard: no link needed
        assert name == "d/\udcff.parquet::audio::0"


def test_the_content_hash_of_embedded_audio_is_that_of_its_bytes(tmp_path: Path) -> None:
    clips = tones(tmp_path / "clips", 2)
    shard = write_shard(tmp_path / "s.parquet", {"audio": audio_cells(clips)})
    cache = FeatureCache.open(tmp_path / "cache", get_extractor("egemaps"))
    references = [f"{shard}::audio::{row}" for row in (0, 1, 2)]

    hashes, sizes, failures = cache.content_hashes(references)

    assert [hashes[reference] for reference in references[:2]] == [file_sha256(clip) for clip in clips]
    assert sizes[references[0]] == shard.stat().st_size
    assert failures == {references[2]: f"unreadable audio: {shard} row 2: the shard has 2 rows"}
    audio._parquet_cells.cache_clear()
    again, _, _ = cache.content_hashes(references[:2])  # known: taken from the hash store, the shard not read
    assert again == {reference: hashes[reference] for reference in references[:2]}
    assert audio._parquet_cells.cache_info().misses == 0
