"""The CSV manifest reader: columns, synonyms, label precedence, validation, skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossemo.corpora import COLUMNS, manifest
from crossemo.errors import CorpusLayoutError
from tests.fixtures import make_corpus, write_garbage, write_tone


def write_manifest(folder: Path, text: str, *, name: str = "manifest.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_emotion_synonyms_map_through_the_one_table(tmp_path: Path) -> None:
    emotions = ["Anger", "angry", "ang", "mad", "happiness", "HAPPY", "joy", "hap", "exc", "excited",
                "sadness", "sad", "neutral", "neu", "calm", "boredom", "frustration", " Sad "]
    for number in range(len(emotions)):
        write_tone(tmp_path / "clips" / f"{number:02d}.wav")
    rows = "".join(f"clips/{number:02d}.wav,{emotion}\n" for number, emotion in enumerate(emotions))
    csv_path = write_manifest(tmp_path, "path,emotion\n" + rows)

    table = manifest.read(csv_path)

    assert list(table.columns) == list(COLUMNS)
    assert table["label"].tolist() == [
        "angry", "angry", "angry", "angry", "happy", "happy", "happy", "happy", "happy", "happy",
        "sad", "sad", "neutral", "neutral", None, None, None, "sad",
    ]
    assert table["emotion"].tolist()[:2] == ["anger", "angry"]
    assert table["emotion"].tolist()[-1] == "sad"
    assert set(table["speaker"]) == {"unknown"}
    assert set(table["group"]) == {"unknown"}  # the group defaults to the speaker
    assert set(table["corpus"]) == {"manifest"}
    assert table["language"].isna().all() and table["gender"].isna().all()
    assert table.attrs["root"] == str(tmp_path.resolve())


def test_optional_columns_any_header_case_and_extra_columns(tmp_path: Path) -> None:
    write_tone(tmp_path / "a" / "x.wav", duration_s=0.75)
    write_tone(tmp_path / "b" / "y.wav")
    csv_path = write_manifest(
        tmp_path,
        " Path ,EMOTION,Speaker,gender,language,corpus,notes\n"
        "b/y.wav,joy,spk2,M,fr,mydata,ok\n"
        "a/x.wav,surprise,spk1,Female,fr,mydata,\n",
    )

    table = manifest.read(csv_path)

    assert table[["path", "corpus", "language", "speaker", "gender", "emotion", "label"]].values.tolist() == [
        ["a/x.wav", "mydata", "fr", "spk1", "female", "surprise", None],
        ["b/y.wav", "mydata", "fr", "spk2", "male", "joy", "happy"],
    ]
    assert table["duration_s"].tolist() == pytest.approx([0.75, 0.5])


def test_group_column_is_honoured_and_defaults_to_the_speaker(tmp_path: Path) -> None:
    for name in ("1.wav", "2.wav", "3.wav", "4.wav"):
        write_tone(tmp_path / name)
    csv_path = write_manifest(
        tmp_path,
        "path,emotion,speaker, Group \n1.wav,sad,a1,day1\n2.wav,sad,a2,day1\n3.wav,anger,a3,\n4.wav,anger,,day2\n",
    )

    table = manifest.read(csv_path)

    assert table[["speaker", "group"]].values.tolist() == [
        ["a1", "day1"], ["a2", "day1"], ["a3", "a3"], ["unknown", "day2"],
    ]
    without = manifest.read(write_manifest(tmp_path, "path,emotion,speaker\n1.wav,sad,a1\n2.wav,sad,a2\n", name="m.csv"))
    assert without["group"].tolist() == ["a1", "a2"]


def test_explicit_label_wins_and_empty_label_falls_back_to_the_emotion(tmp_path: Path) -> None:
    for name in ("1.wav", "2.wav", "3.wav", "4.wav"):
        write_tone(tmp_path / name)
    csv_path = write_manifest(
        tmp_path,
        "path,emotion,label\n1.wav,calm,neutral\n2.wav,anger,\n3.wav,anger,Sad\n4.wav,contempt,\n",
    )

    table = manifest.read(csv_path)

    assert table["label"].tolist() == ["neutral", "angry", "sad", None]


def test_bad_label_values_are_named(tmp_path: Path) -> None:
    write_tone(tmp_path / "1.wav")
    csv_path = write_manifest(tmp_path, "path,emotion,label\n1.wav,anger,furious\n1.wav,calm,bored\n1.wav,sad,sad\n")

    with pytest.raises(CorpusLayoutError, match=r"bad label values 'bored', 'furious'.*angry, happy, neutral, sad"):
        manifest.read(csv_path)


def test_bad_gender_values_are_named(tmp_path: Path) -> None:
    write_tone(tmp_path / "1.wav")
    csv_path = write_manifest(tmp_path, "path,emotion,gender\n1.wav,anger,x\n")

    with pytest.raises(CorpusLayoutError, match="bad gender values 'x'"):
        manifest.read(csv_path)


@pytest.mark.parametrize(
    ("header", "missing"),
    [("file,emotion", "path"), ("path,label", "emotion"), ("speaker,gender", "path, emotion")],
)
def test_missing_required_columns_are_named(tmp_path: Path, header: str, missing: str) -> None:
    csv_path = write_manifest(tmp_path, header + "\na,b\n")

    with pytest.raises(CorpusLayoutError, match=f"lacks required columns: {missing} "):
        manifest.read(csv_path)


def test_missing_unreadable_duplicate_and_empty_entries_are_skipped(tmp_path: Path) -> None:
    write_tone(tmp_path / "audio" / "ok.wav")
    write_garbage(tmp_path / "audio" / "broken.wav")
    outside = write_tone(tmp_path.parent / f"{tmp_path.name}_elsewhere" / "far.wav")
    csv_path = write_manifest(
        tmp_path / "lists",
        "path,emotion\n"
        "../audio/ok.wav,sad\n"
        "../audio/missing.wav,sad\n"
        "../audio/broken.wav,sad\n"
        "..\\audio\\ok.wav,sad\n"
        ",sad\n"
        f"{outside},angry\n",
    )

    table = manifest.read(csv_path)

    far = f"../../{tmp_path.name}_elsewhere/far.wav"
    assert table["path"].tolist() == [far, "../audio/ok.wav"]
    assert table["label"].tolist() == ["angry", "sad"]
    assert all((Path(table.attrs["root"]) / path).is_file() for path in table["path"])
    reasons = {entry["path"]: entry["reason"] for entry in table.attrs["skipped"]}
    assert reasons == {
        "../audio/missing.wav": "listed in the manifest but not found",
        "../audio/broken.wav": "unreadable audio: Format not recognised.",
        "../audio/ok.wav": "listed more than once; the first listing is kept",
        "line 6": "empty path",
    }


def test_folder_with_manifest_csv_is_accepted(tmp_path: Path) -> None:
    csv_path = make_corpus("manifest", tmp_path, per_class=2, odd_cases=True)

    table = manifest.read(csv_path.parent)

    assert len(table) == 3 * 5 * 2
    assert table.groupby("speaker")["gender"].first().to_dict() == {"s1": "female", "s2": "male", "s3": None}
    assert table["label"].isna().sum() == 3 * 2
    assert [entry["path"] for entry in table.attrs["skipped"]] == ["audio/s1/missing.wav"]


def test_unusable_manifests_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusLayoutError, match="manifest file not found"):
        manifest.read(tmp_path / "nope.csv")
    with pytest.raises(CorpusLayoutError, match="no manifest.csv in folder"):
        manifest.read(tmp_path)
    with pytest.raises(CorpusLayoutError, match="not a readable CSV"):
        manifest.read(write_manifest(tmp_path, "", name="empty.csv"))
    with pytest.raises(CorpusLayoutError, match="lists no files"):
        manifest.read(write_manifest(tmp_path, "path,emotion\n", name="header_only.csv"))
    with pytest.raises(CorpusLayoutError, match="repeats columns: path"):
        manifest.read(write_manifest(tmp_path, "path,Path,emotion\na,b,c\n", name="twice.csv"))
    with pytest.raises(CorpusLayoutError, match=r"no usable manifest files.*2 x listed in the manifest but not found"):
        manifest.read(write_manifest(tmp_path, "path,emotion\na.wav,sad\nb.wav,sad\n", name="ghosts.csv"))


def test_byte_order_mark_and_non_ascii_paths(tmp_path: Path) -> None:
    write_tone(tmp_path / "Colère" / "été.wav")
    csv_path = tmp_path / "manifest.csv"
    csv_path.write_text("path,emotion\nColère/été.wav,colère\n", encoding="utf-8-sig")

    table = manifest.read(csv_path)

    assert table["path"].tolist() == ["Colère/été.wav"]
    assert table["emotion"].tolist() == ["colère"] and table["label"].tolist() == [None]


def test_emotion_label_doctest_table_is_the_documented_one() -> None:
    assert manifest.emotion_label("CALM") is None
    assert {manifest.emotion_label(word) for word in ("neu", "sadness", "joy", "mad")} == {
        "neutral", "sad", "happy", "angry",
    }
