"""CASIA: the labels live only in the folder names; speakers and genders from the list."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossemo.corpora import casia
from crossemo.errors import CorpusLayoutError
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone


def test_casia_speaker_and_emotion_folders(tmp_path: Path) -> None:
    layout = {
        "CASIA database/liuchanhg/angry/201.wav": ("liuchanhg", "female", "angry", "angry"),
        "CASIA database/wangzhe/fear/250.wav": ("wangzhe", "male", "fear", None),
        "CASIA database/zhaoquanyin/happy/223.wav": ("zhaoquanyin", "female", "happy", "happy"),
        "CASIA database/ZhaoZuoxiang/neutral/202.wav": ("ZhaoZuoxiang", "male", "neutral", "neutral"),
        "CASIA database/zhaozuoxiang/Sad/230.wav": ("ZhaoZuoxiang", "male", "sad", "sad"),  # any case
        "CASIA database/wangzhe/surprise/211.wav": ("wangzhe", "male", "surprise", None),
    }
    for name in layout:
        write_tone(tmp_path / name, duration_s=0.3)
    write_tone(tmp_path / "CASIA database" / "wangzhe" / "bored" / "201.wav")
    write_tone(tmp_path / "CASIA database" / "someone" / "angry" / "201.wav")
    write_tone(tmp_path / "CASIA database" / "wangzhe" / "angry" / "take1.wav")

    table = casia.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="casia", language="zh")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    reasons = skipped(table)
    assert "no CASIA emotion folder" in reasons["CASIA database/wangzhe/bored/201.wav"]
    assert "no CASIA speaker folder" in reasons["CASIA database/someone/angry/201.wav"]
    assert "does not follow the CASIA scheme" in reasons["CASIA database/wangzhe/angry/take1.wav"]


def test_casia_generated_corpus_inside_a_wrapping_folder(tmp_path: Path) -> None:
    table = casia.read(make_corpus("casia", tmp_path, per_class=3, odd_cases=True))

    assert len(table) == 4 * 6 * 3
    assert all(path.startswith("CASIA database/") for path in table["path"])
    assert table.groupby("speaker")["gender"].first().to_dict() == {
        "ZhaoZuoxiang": "male", "liuchanhg": "female", "wangzhe": "male", "zhaoquanyin": "female",
    }
    assert table["label"].value_counts().to_dict() == {"angry": 12, "happy": 12, "neutral": 12, "sad": 12}
    assert list(skipped(table)) == ["CASIA database/wangzhe/250.wav"]


def test_casia_renamed_folders_cannot_be_read_and_say_why(tmp_path: Path) -> None:
    write_tone(tmp_path / "speaker1" / "emotion1" / "201.wav")

    with pytest.raises(CorpusLayoutError, match="no usable CASIA files.*no CASIA emotion folder"):
        casia.read(tmp_path)
