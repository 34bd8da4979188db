"""ShEMO: gender, speaker and emotion from names like F01A01.wav."""

from __future__ import annotations

from pathlib import Path

from crossemo.corpora import shemo
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone


def test_shemo_rows_come_from_the_file_names(tmp_path: Path) -> None:
    layout = {
        "female/F01A01.wav": ("F01", "female", "anger", "angry"),
        "female/F12H07.wav": ("F12", "female", "happiness", "happy"),
        "female/F03N10.wav": ("F03", "female", "neutral", "neutral"),
        "male/M01S02.wav": ("M01", "male", "sadness", "sad"),
        "male/M01W03.wav": ("M01", "male", "surprise", None),
        "male/M56F01.wav": ("M56", "male", "fear", None),
        "male/M02A123.wav": ("M02", "male", "anger", "angry"),
        "female/M03N01.wav": ("M03", "male", "neutral", "neutral"),  # the name decides, not the folder
    }
    for name in layout:
        write_tone(tmp_path / name, duration_s=0.3)
    write_tone(tmp_path / "female" / "F01X01.wav")
    write_tone(tmp_path / "female" / "X01A01.wav")

    table = shemo.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="shemo", language="fa")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    reasons = skipped(table)
    assert "emotion letter 'X'" in reasons["female/F01X01.wav"]
    assert "does not follow the ShEMO scheme" in reasons["female/X01A01.wav"]


def test_shemo_generated_corpus(tmp_path: Path) -> None:
    table = shemo.read(make_corpus("shemo", tmp_path, per_class=2, odd_cases=True))

    assert len(table) == 4 * 6 * 2
    assert table.groupby("gender")["speaker"].nunique().to_dict() == {"female": 2, "male": 2}
    assert table["label"].value_counts().to_dict() == {"angry": 8, "happy": 8, "neutral": 8, "sad": 8}
    assert list(skipped(table)) == ["female/F01X01.wav"]
