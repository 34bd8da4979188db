"""ESD: language per utterance from the speaker number, label from the emotion folder."""

from __future__ import annotations

from pathlib import Path

from crossemo.corpora import class_by_speaker, esd, summarize
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone


def test_esd_speakers_languages_and_emotion_folders(tmp_path: Path) -> None:
    layout = {
        "0001/Neutral/0001_000001.wav": ("0001", None, "neutral", "neutral", "zh"),
        "0010/Angry/0010_000351.wav": ("0010", None, "angry", "angry", "zh"),
        "0011/Happy/train/0011_000701.wav": ("0011", None, "happy", "happy", "en"),
        "0011/Sad/evaluation/0011_001051.wav": ("0011", None, "sad", "sad", "en"),
        "0020/Surprise/test/0020_001401.wav": ("0020", None, "surprise", None, "en"),
        "0020/sad/0020_001052.wav": ("0020", None, "sad", "sad", "en"),  # any letter case
    }
    for name in layout:
        write_tone(tmp_path / "Emotion Speech Dataset" / name, duration_s=0.3)
    (tmp_path / "Emotion Speech Dataset" / "0011" / "0011.txt").write_text(
        "0011_000701\tAuthor of the danger trail.\tHappy\n", encoding="utf-8"
    )
    write_tone(tmp_path / "Emotion Speech Dataset" / "0021" / "Angry" / "0021_000351.wav")
    write_tone(tmp_path / "Emotion Speech Dataset" / "0011" / "0011_000352.wav")

    table = esd.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="esd", language={"zh", "en"})
    expected = sorted((f"Emotion Speech Dataset/{name}", *fields) for name, fields in layout.items())
    assert facts(table) == [fields[:-1] for fields in expected]
    assert table["language"].tolist() == [fields[-1] for fields in expected]
    reasons = skipped(table)
    assert "speaker 0021 is outside 0001-0020" in reasons["Emotion Speech Dataset/0021/Angry/0021_000351.wav"]
    assert "no ESD emotion folder" in reasons["Emotion Speech Dataset/0011/0011_000352.wav"]


def test_esd_generated_corpus_with_split_folders_summarizes_both_languages(tmp_path: Path) -> None:
    table = esd.read(make_corpus("esd", tmp_path, per_class=3, odd_cases=True))

    summary = summarize(table)

    assert summary["language"] == "en,zh"
    assert summary["files"] == 4 * 5 * 3 and summary["speakers"] == 4
    assert table.groupby("speaker")["language"].agg(set).to_dict() == {
        "0001": {"zh"}, "0010": {"zh"}, "0011": {"en"}, "0020": {"en"},
    }
    assert {path.split("/")[2] for path in table["path"] if path.startswith("0011/")} == {"train", "evaluation", "test"}
    assert class_by_speaker(table).loc["0011"].to_dict() == {
        "neutral": 3, "sad": 3, "happy": 3, "angry": 3, "unlabelled": 3,
    }
    assert list(skipped(table)) == ["0020/0020_001751.wav"]
