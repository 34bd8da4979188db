"""CREMA-D: everything from the name, genders from VideoDemographics.csv when present."""

from __future__ import annotations

from pathlib import Path

import pytest

from crossemo.corpora import cremad
from crossemo.errors import CorpusLayoutError
from tests.corpora.test_readers import check_contract, facts, skipped
from tests.fixtures import make_corpus, write_tone

DEMOGRAPHICS = "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n"


def test_cremad_names_and_demographics(tmp_path: Path) -> None:
    layout = {
        "AudioWAV/1001_DFA_ANG_XX.wav": ("1001", "male", "anger", "angry"),
        "AudioWAV/1001_IEO_HAP_HI.wav": ("1001", "male", "happy", "happy"),
        "AudioWAV/1002_IEO_SAD_LO.wav": ("1002", "female", "sad", "sad"),
        "AudioWAV/1002_TIE_NEU_XX.wav": ("1002", "female", "neutral", "neutral"),
        "AudioWAV/1002_IEO_FEA_MD.wav": ("1002", "female", "fear", None),
        "AudioWAV/1091_WSI_DIS_XX.wav": ("1091", None, "disgust", None),  # not in the demographics
        "elsewhere/1001_ITS_SAD_XX.wav": ("1001", "male", "sad", "sad"),
    }
    for name in layout:
        write_tone(tmp_path / name, duration_s=0.3)
    bad = {
        "AudioWAV/1001_DFA_CAL_XX.wav": "emotion code 'CAL'",
        "AudioWAV/1001_ABC_ANG_XX.wav": "sentence code 'ABC'",
        "AudioWAV/1001_DFA_ANG_ZZ.wav": "level 'ZZ'",
        "AudioWAV/1092_DFA_ANG_XX.wav": "actor 1092 is outside 1001-1091",
    }
    for name in bad:
        write_tone(tmp_path / name)
    (tmp_path / "VideoDemographics.csv").write_text(DEMOGRAPHICS, encoding="utf-8")

    table = cremad.read(tmp_path)

    check_contract(table, root=tmp_path, corpus="cremad", language="en")
    assert facts(table) == [(path, *fields) for path, fields in sorted(layout.items())]
    reasons = skipped(table)
    assert set(reasons) == set(bad)
    assert all(expected in reasons[name] for name, expected in bad.items())


def test_cremad_without_demographics_leaves_gender_missing(tmp_path: Path) -> None:
    write_tone(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")

    table = cremad.read(tmp_path)

    assert facts(table) == [("AudioWAV/1001_DFA_ANG_XX.wav", "1001", None, "anger", "angry")]


def test_cremad_generated_corpus_odd_cases(tmp_path: Path) -> None:
    table = cremad.read(make_corpus("cremad", tmp_path, per_class=2, odd_cases=True))

    assert len(table) == 4 * 6 * 2 + 3 + 1
    assert table.groupby("speaker")["gender"].first().to_dict() == {
        "1001": "male", "1002": "female", "1050": None, "1090": "female", "1091": "male",
    }
    assert sorted(path for path in table["path"] if "_IEO_" in path) == [
        "AudioWAV/1001_IEO_ANG_HI.wav", "AudioWAV/1001_IEO_ANG_LO.wav", "AudioWAV/1001_IEO_ANG_MD.wav",
    ]
    reasons = skipped(table)
    assert "emotion code 'XYZ'" in reasons["AudioWAV/1001_DFA_XYZ_XX.wav"]
    assert reasons["AudioWAV/1002_IEO_SAD_XX.wav"].startswith("unreadable audio")


def test_bad_demographics_are_one_clear_error(tmp_path: Path) -> None:
    write_tone(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Age,Sex\n1001,51,X\n", encoding="utf-8")

    with pytest.raises(CorpusLayoutError, match="VideoDemographics.csv line 2: Sex 'X' is neither Male nor Female"):
        cremad.read(tmp_path)
    (tmp_path / "VideoDemographics.csv").write_text("Actor,Gender\n1001,Male\n", encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match="lacks the column.*ActorID, Sex"):
        cremad.read(tmp_path)
