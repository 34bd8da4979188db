"""SUBESCO: gender, speaker and emotion from names like F_01_MONIKA_S_1_ANGRY_1.wav."""

from __future__ import annotations

from pathlib import Path

from crossemo.corpora import subesco
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone


def test_subesco_rows_come_from_the_file_names(tmp_path: Path) -> None:
    layout = {
        "F_01_MONIKA_S_1_ANGRY_1.wav": ("F01", "female", "angry", "angry"),
        "F_01_MONIKA_S_10_DISGUST_5.wav": ("F01", "female", "disgust", None),
        "F_10_NIPA_S_2_FEAR_2.wav": ("F10", "female", "fear", None),
        "M_01_RAFI_S_3_HAPPY_3.wav": ("M01", "male", "happy", "happy"),
        "M_02_SAKIB_S_4_NEUTRAL_4.wav": ("M02", "male", "neutral", "neutral"),
        "M_02_SAKIB_S_5_SAD_1.wav": ("M02", "male", "sad", "sad"),
        "sub/M_10_TOMAL_S_6_SURPRISE_1.wav": ("M10", "male", "surprise", None),
    }
    for name in layout:
        write_tone(tmp_path / name, duration_s=0.3)
    write_tone(tmp_path / "M_01_RAFI_S_1_BORED_1.wav")
    write_tone(tmp_path / "X_01_RAFI_S_1_ANGRY_1.wav")

    table = subesco.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="subesco", language="bn")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    reasons = skipped(table)
    assert "unknown SUBESCO emotion 'BORED'" in reasons["M_01_RAFI_S_1_BORED_1.wav"]
    assert "does not follow the SUBESCO scheme" in reasons["X_01_RAFI_S_1_ANGRY_1.wav"]


def test_subesco_generated_corpus(tmp_path: Path) -> None:
    table = subesco.read(make_corpus("subesco", tmp_path, per_class=2, odd_cases=True))

    assert len(table) == 4 * 7 * 2
    assert sorted(table["speaker"].unique()) == ["F01", "F02", "M01", "M02"]
    assert table.groupby("gender")["speaker"].nunique().to_dict() == {"female": 2, "male": 2}
    assert list(skipped(table)) == ["SUBESCO/M_01_RAFI_S_1_BORED_1.wav"]
